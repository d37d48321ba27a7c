from bot.events import BotAddedToChat, CommandIssued


async def test_smoke(make_bot, make_user):
    bot, inbox = await make_bot()
    jan = await make_user("jan")
    room = await jan.create_room(invite=(bot.user_id,))
    added = await inbox.wait_for(BotAddedToChat)
    assert added.chat.chat_id == room
    await jan.say(room, "!help me")
    cmd = await inbox.wait_for(CommandIssued)
    print(cmd)
