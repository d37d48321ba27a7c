"""The Matrix adapter: matrix-nio sync to core events, and the core's Platform for Matrix.

- platform.py  `MatrixPlatform`, the PlatformPort (sends, members, rights, direct rooms)
- session.py   nio client, login/restore, the sync loop and its token
- inbound.py   a sync's events to the core: invites, timelines, leaves, undecrypted events
- translate.py pure: nio event + room -> core event
- render.py    pure: Outgoing -> `m.room.message` content (escaped HTML)
- rights.py    pure: power levels -> missing rights (room version 12 creators)
- direct.py    `m.direct` account data
- errors.py    nio errors -> PlatformError
"""
