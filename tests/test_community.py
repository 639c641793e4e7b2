"""A Discord server's shared side through the engine: /setup, /prompt, the leaderboard."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import Core
from bot.model import ChatRef, Delivery, Incoming, Platform, PrivateReach
from bot.scheduler import Prompt, Scheduler
from bot.store.db import sql_write
from bot.store.schedules import DisabledReason, channel_owner
from tests.transcript import Chat, FakeClock, Said, reps_by_person

GUILD = "900"
_keys = itertools.count()


def in_the_group(core: Core, user: str, name: str) -> Chat:
    """`name` in a Telegram group (its id "-100")."""
    return Chat(core, user=user, platform=Platform.TELEGRAM, community="-100", name=name)


def member(core: Core, user: str, name: str) -> Chat:
    chat = Chat(core, user=user, platform=Platform.DISCORD, community=GUILD, name=name)
    chat.ref = ChatRef(Platform.DISCORD, user_id=user, chat_id="555", community=GUILD)
    return chat


async def say(chat: Chat, text: str, admin: bool = False) -> str:
    said = await chat.send(
        Incoming(chat.ref, f"dc:{next(_keys)}", text=text, display_name=chat.name, is_admin=admin)
    )
    return said.text


async def todays_post_button(core: Core, clock: FakeClock) -> str:
    """Daily posts set up by an admin, and the Done button of today's."""
    await say(member(core, "2", "Boss"), "/setup 555 07:30 UTC daily", admin=True)
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    [post] = await core.engine.scheduled(Prompt(schedule, clock.now.date()))
    return post.choices[0].value


async def test_setup_is_for_admins_only(core: Core) -> None:
    ann = member(core, "1", "Ann")
    assert "Manage Server permission" in await say(ann, "/setup 555 07:30 Europe/Berlin mon")
    assert await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD)) is None


async def test_setup_validates_every_part_and_saves_nothing_when_wrong(core: Core) -> None:
    boss = member(core, "2", "Boss")
    assert "isn't a time" in await say(boss, "/setup 555 25:00 Europe/Berlin mon", admin=True)
    assert "isn't a time zone" in await say(boss, "/setup 555 07:30 Moon/Base mon", admin=True)
    assert "list of days" in await say(boss, "/setup 555 07:30 UTC someday", admin=True)
    assert "for example" in await say(boss, "/setup", admin=True)
    assert await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD)) is None


async def test_setup_saves_and_confirms_the_next_local_post(core: Core) -> None:
    boss = member(core, "2", "Boss")
    text = await say(boss, "/setup <#555> 07:30 Europe/Berlin mon,wed,fri", admin=True)
    assert "in <#555> at 07:30 (Europe/Berlin) on Mon, Wed and Fri" in text
    assert "First post: Wednesday 04 March at 07:30" in text
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    assert schedule.target == "555"


async def test_setup_off_stops_the_daily_posts_and_setup_with_a_time_starts_them_again(
    core: Core, clock: FakeClock
) -> None:
    boss = member(core, "2", "Boss")
    assert "no daily posts to stop" in await say(boss, "/setup off", admin=True)
    await say(boss, "/setup 555 07:30 Europe/Berlin weekdays", admin=True)
    assert "won't post the workout in <#555> any more" in await say(boss, "/setup off", admin=True)
    clock.advance(days=7)
    assert await core.store.schedules.due(clock.now, 10) == []
    assert "switched off" in await say(boss, "/prompt", admin=True)
    # The zone and the days were kept: a time alone starts the posts again.
    text = await say(boss, "/setup 555 08:15", admin=True)
    assert "at 08:15 (Europe/Berlin) on weekdays" in text
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    assert schedule.enabled


async def test_setup_needs_a_zone_the_first_time_and_reads_one_of_several_words(
    core: Core,
) -> None:
    boss = member(core, "2", "Boss")
    assert "for example" in await say(boss, "/setup 555 07:30", admin=True)
    assert "(America/New_York) on Mon and Thu" in await say(
        boss, "/setup 555 7 pm New York mon,thu", admin=True
    )


async def test_setup_off_is_for_admins_only(core: Core) -> None:
    boss, ann = member(core, "2", "Boss"), member(core, "1", "Ann")
    await say(boss, "/setup 555 07:30 UTC daily", admin=True)
    assert "Manage Server permission" in await say(ann, "/setup off")
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    assert schedule.enabled


async def test_prompt_posts_the_workout_to_the_configured_channel(core: Core) -> None:
    boss = member(core, "2", "Boss")
    await say(boss, "/setup 777 07:30 UTC daily", admin=True)
    said = await boss.send(Incoming(boss.ref, "p1", text="/prompt", is_admin=True))
    post, confirmation = said.replies
    assert post.to is not None
    assert post.to.chat_id == "777"
    assert "Today's glute workout" in said.plain[0]
    assert said.rendered[0].buttons[0].label == "Done ✅"
    assert confirmation.private


async def test_prompt_says_when_the_daily_post_is_switched_off_and_how_to_switch_it_on(
    core: Core, clock: FakeClock
) -> None:
    """A daily post that stopped (a post failed for good: the bot was removed, say, and
    invited back) doesn't come back with /prompt. Posting by hand still works, and the
    admin is told the daily posts are off and what /setup would switch them on again."""
    boss = member(core, "2", "Boss")
    await say(boss, "/setup 555 07:30 UTC weekdays", admin=True)
    text = await say(boss, "/prompt", admin=True)
    assert "switched off" not in text
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    # What the scheduler does when a post answers "gone".
    await core.store.schedules.disable(schedule.id, DisabledReason.GONE, clock.now)

    said = await boss.send(Incoming(boss.ref, "p-off", text="/prompt", is_admin=True))
    post, confirmation = said.replies
    assert post.to is not None
    assert post.to.chat_id == "555"
    assert "Posted today's workout in <#555>" in said.plain[1]
    assert "Daily posts are switched off" in said.plain[1]
    assert "run /setup again (they were at 07:30 UTC, on weekdays)" in said.plain[1]
    assert confirmation.private


async def test_prompt_dates_the_post_by_the_servers_time_zone(
    core: Core, clock: FakeClock
) -> None:
    boss = member(core, "2", "Boss")
    await say(boss, "/setup 777 07:30 Pacific/Auckland daily", admin=True)
    # Monday 2 March 09:00 UTC is 22:00 in Auckland, 2 March; 11:00 UTC is 3 March there.
    clock.advance(hours=2)
    said = await boss.send(Incoming(boss.ref, "p1", text="/prompt", is_admin=True))
    assert "Tuesday 03 March" in said.plain[0]


async def test_each_member_pressing_the_posts_button_logs_once(core: Core) -> None:
    boss, ann = member(core, "2", "Boss"), member(core, "1", "Ann")
    said = await boss.send(Incoming(boss.ref, "p2", text="/prompt", is_admin=True))
    button = said.rendered[0].buttons[0].value
    for chat, key in ((ann, "i1"), (ann, "i2"), (boss, "i3")):
        await chat.send(Incoming(chat.ref, key, choice=button, display_name=chat.name))
    board = await say(ann, "/leaderboard")
    assert "Ann: 25 reps, 1 session" in board
    assert "Boss: 25 reps, 1 session" in board
    assert board.count("25 reps") == 4  # two members, this week and all time


async def test_done_typed_and_the_days_post_button_log_one_session(
    core: Core, clock: FakeClock
) -> None:
    ann = member(core, "1", "Ann")
    button = await todays_post_button(core, clock)
    assert "Logged" in await say(ann, "done")
    said = await ann.send(Incoming(ann.ref, "press", choice=button, display_name="Ann"))
    assert "Already logged" in said.text
    assert "Ann: 25 reps, 1 session" in await say(ann, "/leaderboard")


async def test_workout_done_typed_and_the_posts_button_log_one_session(
    core: Core, clock: FakeClock
) -> None:
    """/workout's own Done, a typed "done" and the day's post's Done are one session."""
    ann = member(core, "1", "Ann")
    button = await todays_post_button(core, clock)
    await say(ann, "/workout")
    assert "Logged" in await say(ann, "done")
    said = await ann.send(Incoming(ann.ref, "press", choice=button))
    assert "Already logged" in said.text
    assert "Ann: 25 reps, 1 session" in await say(ann, "/leaderboard")


async def test_a_member_without_a_zone_logs_on_the_servers_day(
    core: Core, clock: FakeClock
) -> None:
    """In a Sydney server, Tuesday's 07:30 post is answered on Tuesday morning there, still
    Monday in UTC: the session is Tuesday's, the post's day, not the member's UTC day."""
    boss, ann = member(core, "2", "Boss"), member(core, "1", "Ann")
    await say(boss, "/setup 555 07:30 Australia/Sydney daily", admin=True)
    clock.now = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # Tuesday 08:30 in Sydney
    assert "Logged" in await say(ann, "done")
    user = await core.store.users.get(Platform.DISCORD, "1")
    assert user is not None
    days = {total.day for total in await core.store.reps.day_totals(user.id)}
    assert days == {date(2026, 3, 3)}


async def test_the_leaderboard_week_is_the_servers_whatever_the_viewers_zone(
    core: Core, clock: FakeClock
) -> None:
    """Monday morning in a Sydney server is still Sunday in Los Angeles: a member there
    sees the server's new week, with that morning's sessions on it, like everyone else;
    their own session logged then is on it too. It was dated by their own day (Sunday),
    and so on no week's board at all."""
    boss, ann, bob = member(core, "2", "Boss"), member(core, "1", "Ann"), member(core, "3", "Bob")
    await say(boss, "/setup 555 07:30 Australia/Sydney daily", admin=True)
    await say(bob, "/remind 18:00 America/Los_Angeles daily")
    clock.now = datetime(2026, 3, 8, 21, 0, tzinfo=UTC)  # Monday 9 March 08:00 in Sydney
    await say(ann, "done")
    await say(bob, "done")
    board = await say(bob, "/leaderboard")
    this_week = board.split("All time")[0]
    assert "This week (09 Mar to 15 Mar)" in board
    assert "1. Ann: 25 reps, 1 session" in board
    assert "Bob: 25 reps, 1 session" in this_week


async def test_a_session_is_on_one_weeks_board_only(core: Core, clock: FakeClock) -> None:
    """Logged on Sunday in a UTC server by a member in Auckland (Monday there): on that
    week's board, not on the next one's too."""
    boss, ann = member(core, "2", "Boss"), member(core, "1", "Ann")
    await say(boss, "/setup 555 07:30 UTC daily", admin=True)
    await say(ann, "/remind 18:00 Pacific/Auckland daily")
    clock.now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # Sunday in the server
    await say(ann, "done")
    sunday = (await say(ann, "/leaderboard")).split("All time")[0]
    clock.now = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)  # the server's next week
    monday = (await say(ann, "/leaderboard")).split("All time")[0]
    assert "This week (09 Mar to 15 Mar)" in sunday
    assert "Ann: 25 reps" in sunday
    assert "This week (16 Mar to 22 Mar)" in monday
    assert "Ann: 25 reps" not in monday


async def test_remind_without_a_zone_takes_the_servers(core: Core) -> None:
    boss, ann = member(core, "2", "Boss"), member(core, "1", "Ann")
    await say(boss, "/setup 555 07:30 Australia/Sydney daily", admin=True)
    assert "at 07:00 (Australia/Sydney)" in await say(ann, "/remind 07:00")


async def test_done_in_the_channel_is_quiet_unless_there_is_news(
    core: Core, clock: FakeClock
) -> None:
    ann = member(core, "1", "Ann")
    said = await ann.send(Incoming(ann.ref, "m1", text="done", display_name="Ann"))
    assert said.replies[0].logged
    assert said.replies[0].quiet
    clock.advance(days=1)
    said = await ann.send(Incoming(ann.ref, "m2", text="done", display_name="Ann"))
    assert not said.replies[0].quiet
    assert "target goes up" in said.text


async def test_leaderboard_says_1_rep_and_1_session(core: Core) -> None:
    ann = member(core, "1", "Ann")
    await say(ann, "done 1")
    board = await say(ann, "/leaderboard")
    assert "Ann: 1 rep, 1 session" in board


async def test_leaderboard_hides_those_who_opt_out(core: Core) -> None:
    ann, bob = member(core, "1", "Ann <b>"), member(core, "3", "Bob")
    await say(ann, "done 30")
    await say(bob, "done 10")
    board = await say(bob, "/leaderboard")
    assert "1. Ann <b>: 30 reps, 1 session" in board
    assert "2. Bob: 10 reps" in board
    assert "hidden from leaderboards" in await say(ann, "/leaderboard hide")
    board = await say(bob, "/leaderboard")
    assert "Ann" not in board
    assert "1. Bob: 10 reps" in board


async def test_leaderboard_counts_only_this_server(core: Core) -> None:
    ann = member(core, "1", "Ann")
    await say(ann, "done 30")
    elsewhere = Chat(core, user="9", platform=Platform.DISCORD, community="other", name="Zed")
    await elsewhere.say("done 50")
    board = await say(ann, "/leaderboard")
    assert "Zed" not in board


async def test_a_session_logged_privately_counts_on_the_board_whose_post_says_so(
    core: Core, clock: FakeClock
) -> None:
    """A member who logged the day's session by DM (a reminder's Done, say) and then
    pressed the server post's Done got "Already logged", and never showed on that
    server's board: the session was no server's. It counts on the board of the post."""
    done = await todays_post_button(core, clock)
    dm = Chat(core, user="1", platform=Platform.DISCORD, name="Ann")
    assert "logged" in (await dm.say("done")).templates
    ann = member(core, "1", "Ann")
    pressed = await ann.send(Incoming(ann.ref, "dc:press", choice=done, display_name="Ann"))
    assert pressed.templates == ["already_logged"]
    assert "Ann: 25 reps" in await say(member(core, "3", "Bob"), "/leaderboard")


async def test_leaderboard_shows_the_name_each_server_knows(core: Core) -> None:
    # One person, two servers, a nickname in each: neither server sees the other's.
    work = member(core, "1", "Ann")
    home = Chat(core, user="1", platform=Platform.DISCORD, community="other", name="Annie")
    await say(work, "done 30")
    await home.say("done 20")
    board = await say(member(core, "2", "Bob"), "/leaderboard")
    assert "Ann:" in board
    assert "Annie" not in board
    await say(work, "done 5")
    neighbour = Chat(core, user="3", platform=Platform.DISCORD, community="other", name="Zed")
    board = (await neighbour.say("/leaderboard")).text
    assert "Annie:" in board


async def test_ordinary_server_chatter_is_ignored_and_not_recorded(core: Core) -> None:
    ann = member(core, "1", "Ann")
    chatter = Incoming(ann.ref, "c1", text="what a lovely day", addressed=False)
    assert await core.engine.handle(chatter) == []
    assert await core.store.users.get("discord", "1") is None
    logged = await core.engine.handle(Incoming(ann.ref, "c2", text="done 12", addressed=False))
    assert logged[0].logged
    asked = await core.engine.handle(Incoming(ann.ref, "c3", text="hello?", addressed=True))
    assert asked


async def test_done_chatter_the_bot_cannot_read_is_left_alone(core: Core) -> None:
    ann = member(core, "1", "Ann")
    for text in ("Done deal", "done with the report, sending now", "done 5 minutes ago"):
        chatter = Incoming(ann.ref, f"c-{text}", text=text, addressed=False)
        assert await core.engine.handle(chatter) == []
    assert await core.store.users.get("discord", "1") is None
    addressed = Incoming(ann.ref, "c-addr", text="done deal", addressed=True)
    assert (await core.engine.handle(addressed))[0].template == "log_problem"


async def test_words_typed_in_a_group_never_answer_a_private_question(
    core: Core, db_path: Path
) -> None:
    alone = Chat(core, user="1", platform=Platform.DISCORD, name="Ann")
    await alone.say("done 10")
    said = await alone.say("/forget")
    assert "forget/confirm" in said.templates
    in_group = Incoming(
        member(core, "1", "Ann").ref, "g1", text="yes", display_name="Ann", addressed=True
    )
    replies = await core.engine.handle(in_group)
    assert "forget/done" not in [reply.template for reply in replies]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT SUM(reps) FROM rep_logs").fetchone() == (10,)
    said = await alone.say("no")  # the question is still open in private
    assert "forget/kept" in said.templates


async def test_start_menu_or_cancel_in_a_group_leave_the_private_check_alone(
    core: Core,
) -> None:
    alone = Chat(core, user="1", platform=Platform.DISCORD, name="Ann")
    await alone.say("/check")
    await alone.tap("No")
    for n, text in enumerate(("/start", "/menu", "/cancel", "/help", "/learn")):
        incoming = Incoming(member(core, "1", "Ann").ref, f"g{n}", text=text, display_name="Ann")
        replies = await core.engine.handle(incoming)
        templates = [reply.template for reply in replies]
        assert not any(t.startswith(("check/", "resume", "cancelled")) for t in templates), text
    said = await alone.tap("No")  # the private question still stands
    assert "Question 3 of 9" in said.text


async def test_a_command_the_bot_lacks_is_answered_only_if_named(core: Core) -> None:
    ann = member(core, "1", "Ann")
    other_bots = Incoming(ann.ref, "c1", text="/play never gonna", addressed=False)
    assert await core.engine.handle(other_bots) == []
    assert await core.store.users.get("discord", "1") is None
    named = Incoming(ann.ref, "c2", text="/play", addressed=True)
    assert [r.template for r in await core.engine.handle(named)] == ["unknown_command"]
    known = Incoming(ann.ref, "c3", text="/leaderboard", addressed=False)
    assert [r.template for r in await core.engine.handle(known)] == ["community/leaderboard"]


async def test_meta_store_remembers_values(core: Core) -> None:
    assert await core.store.meta.get("discord.commands") is None
    await core.store.meta.set("discord.commands", "abc")
    await core.store.meta.set("discord.commands", "def")
    assert await core.store.meta.get("discord.commands") == "def"


async def test_leaderboard_in_the_terminal_does_not_talk_of_direct_messages(core: Core) -> None:
    said = await Chat(core).say("/leaderboard")
    assert "direct message" not in said.text
    assert "terminal" in said.text
    dm = Chat(core, user="8", platform=Platform.DISCORD)
    said = await dm.say("/leaderboard")
    assert "works in a server, not in a direct message" in said.text


async def test_telegram_speaks_of_groups_and_the_private_chat_not_servers(core: Core) -> None:
    private = Chat(core, user="7", platform=Platform.TELEGRAM)
    said = await private.say("/leaderboard")
    assert "group" in said.text
    assert "private chat" in said.text
    for command in ("/leaderboard", "/setup 555 07:30 UTC daily", "/prompt", "/help"):
        said = await private.say(command)
        assert "server" not in said.text.lower(), command
        assert "direct message" not in said.text, command
    said = await private.say("/help")
    assert "/leaderboard" in said.text
    group = in_the_group(core, "7", "Ann")
    for command in ("/setup 555 07:30 UTC daily", "/prompt"):
        said = await group.say(command)
        assert "Manage Server" not in said.text, command
        assert "/remind" in said.text, command
    assert await core.store.schedules.get(channel_owner(Platform.TELEGRAM, "-100")) is None


async def test_setup_in_a_discord_dm_still_asks_for_a_server(core: Core) -> None:
    dm = Chat(core, user="8", platform=Platform.DISCORD)
    said = await dm.say("/setup 555 07:30 UTC daily")
    assert "works in a server, not in a direct message" in said.text
    done = await say(member(core, "2", "Boss"), "/setup 555 07:30 Europe/Berlin", admin=True)
    assert "server time" not in done  # the post goes out in the time zone given


async def test_equal_totals_share_a_place_on_the_leaderboard(core: Core) -> None:
    ann, bob, cat = member(core, "1", "Ann"), member(core, "2", "Bob"), member(core, "3", "Cat")
    await say(ann, "done 30")
    await say(bob, "done 30")
    await say(cat, "done 20")
    board = await say(cat, "/leaderboard")
    week, all_time = board.split("All time")
    for part in (week, all_time):
        assert "1. Ann: 30 reps, 1 session" in part
        assert "1. Bob: 30 reps, 1 session" in part
        assert "3. Cat: 20 reps, 1 session" in part


async def test_the_same_reps_in_more_sessions_ranks_higher(core: Core, clock: FakeClock) -> None:
    ann, bob = member(core, "1", "Ann"), member(core, "2", "Bob")
    await say(ann, "done 10")
    await say(bob, "done 5")
    clock.advance(days=1)
    await say(bob, "done 5")
    board = await say(ann, "/leaderboard")
    assert "1. Bob: 10 reps, 2 sessions" in board
    assert "2. Ann: 10 reps, 1 session" in board


async def test_an_out_of_range_count_in_a_group_gets_a_short_correction(core: Core) -> None:
    ann = member(core, "1", "Ann")
    for n, text in enumerate(("done 5000 bridges", "done -3", "done 0")):
        unasked = Incoming(ann.ref, f"oor-{n}", text=text, display_name="Ann", addressed=False)
        [reply] = await core.engine.handle(unasked)
        assert reply.template == "log_problem", text
        shown = core.renderer.render(reply, Platform.DISCORD).text
        assert "Nothing was logged." in shown
        assert len(shown) < 120, shown  # everyone in the group reads it
    said = await ann.send(Incoming(ann.ref, "oor-x", text="done 5000", addressed=False))
    assert "more than 500" in said.text
    for text in ("done deal", "done 10 burpees", "done twenty"):
        chatter = Incoming(ann.ref, f"c-{text}", text=text, addressed=False)
        assert await core.engine.handle(chatter) == [], text
    assert await core.store.db.fetchall("SELECT * FROM rep_logs") == []


async def test_finished_in_a_group_logs_only_when_said_to_the_bot(core: Core) -> None:
    ann = member(core, "1", "Ann")
    for n, text in enumerate(("Finished!", "did it", "completed", "finished 5000")):
        chatter = Incoming(ann.ref, f"f-{n}", text=text, display_name="Ann", addressed=False)
        assert await core.engine.handle(chatter) == [], text
    assert await core.store.users.get("discord", "1") is None
    to_the_bot = Incoming(ann.ref, "f-addr", text="did it", display_name="Ann", addressed=True)
    [reply] = await core.engine.handle(to_the_bot)
    assert reply.logged


async def test_setup_in_a_telegram_group_is_answered_there(core: Core) -> None:
    ann = in_the_group(core, "7", "Ann")
    never_wrote_privately = Incoming(
        ann.ref, "tg-setup", text="/setup", private_reach=PrivateReach.IF_STARTED
    )
    [reply] = await core.engine.handle(never_wrote_privately)
    assert reply.template == "community/no_daily_posts"
    assert not reply.private


async def test_thanks_to_the_bot_in_a_server_is_answered_and_other_thanks_left_alone(
    core: Core,
) -> None:
    ann = member(core, "1", "Ann")
    overheard = Incoming(ann.ref, "t1", text="thanks Bob!", addressed=False)
    assert await core.engine.handle(overheard) == []
    unaddressed = Incoming(ann.ref, "t2", text="Thanks!", addressed=False)
    assert await core.engine.handle(unaddressed) == []
    replied = await core.engine.handle(Incoming(ann.ref, "t3", text="Thank you!", addressed=True))
    assert [reply.template for reply in replied] == ["thanks"]  # not "didn't understand"
    assert not replied[0].private


async def test_prompts_post_and_the_scheduled_post_are_one_session_a_day(
    core: Core, clock: FakeClock
) -> None:
    # /prompt's post is today's post: typing "done" and then pressing its Done, or pressing
    # its Done and the scheduled post's, logs one session.
    boss, ann, bob = member(core, "2", "Boss"), member(core, "1", "Ann"), member(core, "3", "Bob")
    await say(boss, "/setup 555 07:30 UTC daily", admin=True)
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    [scheduled] = await core.engine.scheduled(Prompt(schedule, clock.now.date()))
    prompted = await boss.send(Incoming(boss.ref, "p1", text="/prompt", is_admin=True))
    button = prompted.rendered[0].buttons[0].value
    assert "Logged" in await say(ann, "done")
    pressed = await ann.send(Incoming(ann.ref, "a1", choice=button, display_name="Ann"))
    assert "Already logged" in pressed.text
    await bob.send(Incoming(bob.ref, "b1", choice=button, display_name="Bob"))
    again = Incoming(bob.ref, "b2", choice=scheduled.choices[0].value, display_name="Bob")
    assert "Already logged" in (await bob.send(again)).text
    board = await say(ann, "/leaderboard")
    assert "Ann: 25 reps, 1 session" in board
    assert "Bob: 25 reps, 1 session" in board


async def test_prompts_posts_without_a_schedule_are_one_session_a_day(
    core: Core, clock: FakeClock
) -> None:
    boss, ann = member(core, "2", "Boss"), member(core, "1", "Ann")
    posts = [await boss.send(Incoming(boss.ref, f"p{n}", text="/prompt", is_admin=True))
             for n in range(2)]  # fmt: skip
    assert "Logged" in await say(ann, "done")
    for n, post in enumerate(posts):
        press = Incoming(ann.ref, f"a{n}", choice=post.rendered[0].buttons[0].value)
        assert "Already logged" in (await ann.send(press)).text
    clock.advance(days=1)
    tomorrow = await boss.send(Incoming(boss.ref, "p3", text="/prompt", is_admin=True))
    press = Incoming(ann.ref, "a3", choice=tomorrow.rendered[0].buttons[0].value)
    assert "Logged" in (await ann.send(press)).text


async def test_setup_again_after_todays_post_confirms_tomorrows(
    core: Core, clock: FakeClock
) -> None:
    # Monday's 07:30 (Berlin) post has gone out; moved to 19:30 the same morning, the next
    # post is Tuesday's (at most one a day), and the confirmation says so.
    async def delivered(prompt: Prompt) -> Delivery:
        return Delivery.SENT

    boss = member(core, "2", "Boss")
    clock.now = clock.now.replace(hour=5)  # Monday 2 March, 06:00 in Berlin
    await say(boss, "/setup 555 07:30 Europe/Berlin daily", admin=True)
    clock.now = clock.now.replace(hour=6, minute=30)
    await Scheduler(core.store.schedules, delivered, clock=clock, pacers={}).run_once()
    clock.now = clock.now.replace(hour=8, minute=0)
    text = await say(boss, "/setup 555 19:30 Europe/Berlin daily", admin=True)
    assert "First post: Tuesday 03 March at 19:30" in text


async def test_a_fixed_offset_zone_is_confirmed_as_the_offset_it_is(
    core: Core, clock: FakeClock
) -> None:
    boss = member(core, "2", "Boss")
    text = await say(boss, "/setup 555 07:30 UTC-5 daily", admin=True)
    assert "at 07:30 (UTC-5, no daylight saving) every day" in text
    text = await say(boss, "/setup 555 07:30 GMT+2 daily", admin=True)
    assert "at 07:30 (UTC+2, no daylight saving) every day" in text
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    # Monday 09:00 UTC is past 07:30 at UTC+2: Tuesday's 07:30 there is 05:30 UTC.
    assert schedule.next_due == clock.now.replace(day=3, hour=5, minute=30)


async def test_an_abbreviation_is_read_as_its_places_clock_and_said_so(
    core: Core, clock: FakeClock
) -> None:
    boss = member(core, "2", "Boss")
    text = await say(boss, "/setup 555 07:30 EST daily", admin=True)
    # New York's clock, daylight saving and all, not tzdb's EST (UTC-5 all year).
    assert "at 07:30 (America/New_York) every day" in text
    assert 'I took "EST" to mean the time in America/New_York' in text
    text = await say(boss, "/setup 555 07:30 IST daily", admin=True)
    assert '"IST" could be Asia/Kolkata, Asia/Jerusalem or Europe/Dublin' in text
    assert "Nothing was saved" in text
    text = await say(boss, "/setup 555 07:30 UTC+5:30 daily", admin=True)
    assert '"UTC+5:30" could be Asia/Kolkata or Asia/Colombo' in text
    schedule = await core.store.schedules.get(channel_owner(Platform.DISCORD, GUILD))
    assert schedule is not None
    assert schedule.tz == ZoneInfo("America/New_York")


async def test_a_zone_saved_as_tzdbs_mst_stays_when_setup_leaves_it_out(
    core: Core, clock: FakeClock
) -> None:
    # Saved when "MST" meant tzdb's UTC-7 all year: now "MST" typed is asked about (Denver
    # or Phoenix), but a new time alone keeps the zone as it was.
    boss = member(core, "2", "Boss")
    await say(boss, "/setup 555 07:30 UTC daily", admin=True)
    await core.store.db.apply([sql_write("UPDATE schedules SET tz = 'MST'")])
    text = await say(boss, "/setup 555 18:00", admin=True)
    assert "at 18:00 (UTC-7, no daylight saving) every day" in text
    assert "I took" not in text


async def test_a_member_typing_setup_is_told_it_needs_manage_server(core: Core) -> None:
    # Typed in a channel, where the bot can't answer them alone: not sent to the slash
    # command /setup, which Discord hides from members without Manage Server.
    ann = member(core, "1", "Ann")
    for n, text in enumerate(("/setup <#555> 07:30 UTC", "/prompt")):
        typed = Incoming(ann.ref, f"typed-{n}", text=text, private_reach=PrivateReach.UNSURE)
        [reply] = await core.engine.handle(typed)
        assert reply.template == "community/admin_only"
        assert not reply.private


def private_and_group(core: Core) -> tuple[Chat, Chat]:
    """One person, in a private chat with the bot and in a Telegram group."""
    private = Chat(core, user="7", platform=Platform.TELEGRAM, name="Ann")
    group = in_the_group(core, "7", "Ann")
    return private, group


async def test_the_groups_buttons_never_answer_what_is_typed_in_private(core: Core) -> None:
    private, group = private_and_group(core)
    await private.say("/check")
    for answer in ["no", "no", "yes", "no", "no", "no"]:
        await private.say(answer)  # on to the sitting-hours question
    await group.say("/start")  # the group's menu, with its buttons
    said = await private.say("3")  # 3 hours: not the group menu's third button
    assert "Question 8 of 9" in said.text
    await group.say("/bridge")
    await group.tap("Next ➡")
    said = await private.say("back")  # the check's back: not the group's step
    assert "Question 7 of 9" in said.text


async def test_check_in_a_group_midway_through_a_private_check_asks_its_question_again(
    core: Core,
) -> None:
    private, group = private_and_group(core)
    await private.say("/check")
    await private.say("no")
    await private.say("no")
    # As Telegram sends it: an answer for Ann alone goes to her private chat.
    asked = Incoming(group.ref, "g-check", "/check", private_reach=PrivateReach.IF_STARTED)
    said = await group.send(asked)
    assert [reply.private for reply in said.replies] == [True]  # to the private chat
    assert "Question 3 of 9" in said.text
    said = await private.say("yes")
    assert "Question 4 of 9" in said.text


async def test_group_messages_do_not_make_a_check_left_days_ago_look_fresh(
    core: Core, clock: FakeClock
) -> None:
    """Every message in a group saved the person's private conversation as new: someone
    who left the check and only logged in the group for three days then had a "no" in
    private taken as the answer to the question left days ago, without "continue or start
    over?" first."""
    private, group = private_and_group(core)
    await private.say("/check")
    await private.say("no")
    for _ in range(3):
        clock.advance(days=1)
        await group.say("done")
    said = await private.say("no")
    assert said.templates == ["resume"]


async def test_todays_workout_from_a_groups_menu_leaves_a_private_check_going(
    core: Core,
) -> None:
    """ "Today's workout" pressed on a group's menu comes privately, and ended the check
    the person was halfway through there: its next answer was then not understood."""
    private, group = private_and_group(core)
    await private.say("/check")
    await private.say("no")
    await group.say("/start")
    asked = await group.tap("Today's workout")
    assert asked.templates == ["workout"]
    assert "Question 3 of 9" in (await private.say("no")).text


async def test_done_in_a_group_logs_the_session_and_leaves_a_private_walk_through(
    core: Core,
) -> None:
    private, group = private_and_group(core)
    await private.say("/lunge")
    said = await group.say("done")
    assert "Logged 20 glute bridges and 5 lunges per side" in said.text
    said = await private.say("next")
    assert "step 2 of 5" in said.text


async def test_a_walk_through_finished_in_a_group_names_no_ones_own_target(
    core: Core, clock: FakeClock
) -> None:
    bob = in_the_group(core, "8", "Bob")
    for _ in range(2):  # two full sessions: Bob's bridge target is 24 now
        await bob.say("done")
        clock.advance(days=1)
    ann = in_the_group(core, "7", "Ann")
    await bob.say("/bridge")
    for _ in range(5):
        said = await bob.tap("Next ➡")
    assert "exercise/finish" in said.templates
    assert "24" not in said.text  # Bob's target, shown to the whole group
    assert "target right now" not in said.text
    assert "Start with 20" in said.text
    assert "Done ✅ logs your own target" in said.text
    ann.last = said  # the finish is on show to everyone in the group
    assert "Logged 20 glute bridges" in (await ann.tap("Done ✅")).text
    assert "Logged 24 glute bridges" in (await bob.tap("Done ✅")).text
    await bob.say("/lunge")
    for _ in range(5):
        said = await bob.tap("Next ➡")
    assert "Aim for 5 to 10 per side" in said.text
    assert "target right now" not in said.text


async def test_a_group_walk_through_gone_back_over_keeps_one_done(core: Core) -> None:
    """Its finish, Back, then Next again: both finishes are on show, and Ann presses the
    Done of each. One walk-through, one log: its id is on every one of its buttons."""
    ann = in_the_group(core, "7", "Ann")
    bob = in_the_group(core, "8", "Bob")
    said = await bob.say("/lunge")
    while "exercise/finish" not in said.templates:
        said = await bob.tap("Next ➡")
    first = said
    await bob.tap("⬅ Back")
    second = await bob.tap("Next ➡")
    assert "exercise/finish" in second.templates
    ann.last = second
    assert "Logged 5 lunges per side" in (await ann.tap("Done ✅")).text
    ann.last = first
    assert "already" in (await ann.tap("Done ✅")).text.lower()
    user = await core.store.users.get(Platform.TELEGRAM, "7")
    assert user is not None
    assert [t.reps for t in await core.store.reps.day_totals(user.id)] == [5]


async def walked_to_the_finish(chat: Chat, opened: Said, start: str) -> Said:
    """`start` ("How to do a bridge") pressed on `opened`, then Next to the finish."""
    chat.last = opened
    said = await chat.tap(start)
    while "exercise/finish" not in said.templates:
        said = await chat.tap("Next ➡")
    return said


async def test_two_walk_throughs_opened_from_one_workout_in_a_server_log_once(
    core: Core,
) -> None:
    """ "How to do a bridge" pressed twice on one workout (a double tap, say) opened two
    walk-throughs, each with a Done of its own: pressing both logged the bridges twice,
    for one session. Both come from the same message now, and count as one."""
    ann = Chat(core, user="7", platform=Platform.DISCORD, community="1", name="Ann")
    workout = await ann.say("/workout")
    first = await walked_to_the_finish(ann, workout, "How to do a bridge")
    second = await walked_to_the_finish(ann, workout, "How to do a bridge")
    assert "Logged 20 glute bridges" in (await ann.tap("Done ✅")).text
    ann.last = first
    assert "Already logged" in (await ann.tap("Done ✅")).text
    ann.last = second
    assert "Already logged" in (await ann.tap("Done ✅")).text
    assert await reps_by_person(core) == {("discord", "7"): 20}


async def test_a_walk_through_opened_again_the_next_day_logs_that_days_session(
    core: Core, clock: FakeClock
) -> None:
    ann = Chat(core, user="7", platform=Platform.DISCORD, community="1", name="Ann")
    workout = await ann.say("/workout")
    await walked_to_the_finish(ann, workout, "How to do a lunge")
    await ann.tap("Done ✅")
    clock.advance(days=1)
    await walked_to_the_finish(ann, workout, "How to do a lunge")
    assert "Logged 5 lunges per side" in (await ann.tap("Done ✅")).text
    assert await reps_by_person(core) == {("discord", "7"): 10}


async def test_two_walk_throughs_opened_from_one_learn_menu_in_a_group_log_once(
    core: Core,
) -> None:
    ann = in_the_group(core, "7", "Ann")
    bob = in_the_group(core, "8", "Bob")
    menu = await ann.say("/learn")
    first = await walked_to_the_finish(ann, menu, "Glute bridge")
    second = await walked_to_the_finish(bob, menu, "Glute bridge")
    for finish in (first, second):
        bob.last = finish
        await bob.tap("Done ✅")
    assert await reps_by_person(core) == {("telegram", "8"): 20}


async def typed_in_reply(chat: Chat, text: str, to: Said) -> Said:
    """`text` typed as a reply to the bot's message `to`, whose buttons are still there."""
    replied = tuple(button.value for rendered in to.rendered for button in rendered.buttons)
    incoming = Incoming(chat.ref, f"tg:{next(_keys)}", text=text, replied_buttons=replied)
    return await chat.send(incoming)


async def test_next_and_back_typed_in_reply_to_a_group_step_press_its_buttons(
    core: Core,
) -> None:
    ann = in_the_group(core, "7", "Ann")
    bob = in_the_group(core, "8", "Bob")
    step_one = await ann.say("/bridge")
    step_two = await typed_in_reply(bob, "next", step_one)
    assert "step 2 of 5" in step_two.text
    assert "step 1 of 5" in (await typed_in_reply(bob, "previous", step_two)).text
    assert "step 2 of 5" in (await typed_in_reply(ann, "yes", step_one)).text
    # The first step has no Back: "back" to it is what it was, not understood.
    assert "not_understood" in (await typed_in_reply(bob, "back", step_one)).templates
    said = step_two
    while "exercise/finish" not in said.templates:
        said = await typed_in_reply(bob, "go on", said)
    finish = said
    # The same walk-through throughout: Back from its finish, then its Next, the same Done.
    assert "step 5 of 5" in (await typed_in_reply(bob, "back", finish)).text
    again = await bob.tap("Next ➡")
    assert again.replies[-1].choices == finish.replies[-1].choices


async def test_next_in_reply_to_a_message_that_is_no_walk_through_step_is_not_a_step(
    core: Core,
) -> None:
    bob = in_the_group(core, "8", "Bob")
    workout = await bob.say("/workout")  # its "How to do a bridge" starts one, steps none
    assert "not_understood" in (await typed_in_reply(bob, "next", workout)).templates
    not_a_reply = Incoming(bob.ref, "tg:chatter", text="next", addressed=False)
    assert await core.engine.handle(not_a_reply) == []


async def test_next_in_reply_to_a_group_step_after_a_warning_sign_holds_back_as_its_button(
    core: Core,
) -> None:
    ann = in_the_group(core, "7", "Ann")
    bob = in_the_group(core, "8", "Bob")
    step_one = await ann.say("/bridge")
    await Chat(core, user="8", platform=Platform.TELEGRAM).say("my leg is going numb")
    typed = await typed_in_reply(bob, "next", step_one)
    bob.last = step_one
    pressed = await bob.tap("Next ➡")
    assert typed.templates == pressed.templates
    assert "step 2 of 5" not in typed.text


async def test_a_typed_next_to_a_group_step_from_before_steps_had_ids_goes_on(
    core: Core,
) -> None:
    bob = in_the_group(core, "8", "Bob")
    step_three = ("do:bridge:3", "do:bridge:1")  # its Next and its Back
    next_to_it = Incoming(bob.ref, "tg:old", text="next", replied_buttons=step_three)
    assert "step 4 of 5" in (await bob.send(next_to_it)).text
    back_to_it = Incoming(bob.ref, "tg:old-back", text="back", replied_buttons=step_three)
    assert "step 2 of 5" in (await bob.send(back_to_it)).text
