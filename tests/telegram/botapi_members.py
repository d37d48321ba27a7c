"""The fake Bot API's methods about chats, members, join requests and invite links."""

from __future__ import annotations

import secrets

from tests.telegram.botapi_params import Params
from tests.telegram.botapi_state import (
    ADMIN,
    JSON,
    KICKED,
    LEFT,
    MEMBER,
    OWNER,
    FakeChat,
    bad_request,
)
from tests.telegram.botapi_world import World


class MemberMethods(World):
    """Each `m_<name>` is the Bot API method `<name>` (case-insensitive)."""

    # -- members and join requests -------------------------------------------------------

    def _group(self, q: Params) -> FakeChat:
        chat = self.chat_for_bot(q.required("chat_id"))
        if not chat.is_group:
            raise bad_request("method is available for group and supergroup chats only")
        return chat

    async def m_approveChatJoinRequest(self, p: JSON) -> bool:
        """Let a requester in (needs can_invite_users)."""
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(chat, "can_invite_users", "CHAT_ADMIN_REQUIRED")
        if chat.member(user).present:
            raise bad_request("USER_ALREADY_PARTICIPANT")
        if chat.join_requests.pop(user.id, None) is None:
            raise bad_request("HIDE_REQUESTER_MISSING")
        self.change_member(chat, user, MEMBER, by=self.bot, via_join_request=True)
        return True

    async def m_declineChatJoinRequest(self, p: JSON) -> bool:
        """Turn a join request down (needs can_invite_users)."""
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(chat, "can_invite_users", "CHAT_ADMIN_REQUIRED")
        if chat.join_requests.pop(user.id, None) is None:
            raise bad_request("HIDE_REQUESTER_MISSING")
        return True

    async def m_banChatMember(self, p: JSON) -> bool:
        """Remove and ban a member (needs can_restrict_members)."""
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(
            chat, "can_restrict_members", "not enough rights to restrict/unrestrict chat member"
        )
        status = chat.member(user).status
        if status == OWNER:
            raise bad_request("can't remove chat owner")
        if status == ADMIN:
            raise bad_request("user is an administrator of the chat")
        if status != KICKED:
            self.change_member(chat, user, KICKED, by=self.bot)
        return True

    async def m_unbanChatMember(self, p: JSON) -> bool:
        """Lift a ban; without only_if_banned this also removes a member."""
        q = Params(p)
        chat = self._group(q)
        user = self.user(q.required("user_id"))
        self.require(
            chat, "can_restrict_members", "not enough rights to restrict/unrestrict chat member"
        )
        member = chat.member(user)
        if member.status == KICKED:
            chat.members[user.id].status = LEFT
        elif member.present and not q.bool("only_if_banned"):
            if member.status in (OWNER, ADMIN):
                raise bad_request("user is an administrator of the chat")
            self.change_member(chat, user, LEFT, by=self.bot)
        return True

    async def m_createChatInviteLink(self, p: JSON) -> JSON:
        """A new invite link, optionally one that makes join requests."""
        q = Params(p)
        chat = self._group(q)
        self.require(chat, "can_invite_users", "not enough rights to manage chat invite link")
        name = q.get("name")
        if name is not None and len(str(name)) > 32:
            raise bad_request("invite link name is too long")
        join_request = q.bool("creates_join_request")
        if join_request and q.get("member_limit") is not None:
            raise bad_request(
                "member limit can't be specified for links requiring administrator approval"
            )
        link: JSON = {
            "invite_link": "https://t.me/+" + secrets.token_urlsafe(12),
            "creator": self.bot.json(),
            "creates_join_request": join_request,
            "is_primary": False,
            "is_revoked": False,
        }
        if name is not None:
            link["name"] = name
        chat.invite_links.append(link)
        return link

    async def m_getChatMember(self, p: JSON) -> JSON:
        """One user's membership in a chat."""
        q = Params(p)
        chat = self.chat_for_bot(q.required("chat_id"))
        user = self.user(q.required("user_id"))
        if chat.user is not None:
            status = MEMBER if user in (chat.user, self.bot) else LEFT
            return {"status": status, "user": user.json()}
        return chat.member(user).json()

    async def m_getChatAdministrators(self, p: JSON) -> list[JSON]:
        """The owner and administrators of a group."""
        chat = self._group(Params(p))
        return [m.json() for m in chat.members.values() if m.status in (OWNER, ADMIN)]

    async def m_getChatMemberCount(self, p: JSON) -> int:
        """How many members a chat has."""
        chat = self.chat_for_bot(Params(p).required("chat_id"))
        return 2 if chat.user is not None else sum(m.present for m in chat.members.values())

    async def m_getChat(self, p: JSON) -> JSON:
        """The chat's full information."""
        return self.chat_for_bot(Params(p).required("chat_id")).full_json()

    async def m_leaveChat(self, p: JSON) -> bool:
        """The bot leaves a group."""
        chat = self._group(Params(p))
        self.change_member(chat, self.bot, LEFT, by=self.bot)
        return True

    async def m_close(self, p: JSON) -> bool:
        """Accepted and ignored."""
        return True

    async def m_logOut(self, p: JSON) -> bool:
        """Accepted and ignored."""
        return True
