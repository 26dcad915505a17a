"""The one exception type that means "the user gave us something wrong".

Scripts catch it at the top, print `error: <message>` on stderr and exit with status 2.
Anything else that escapes is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A bad config, a missing or malformed file, an unreachable model: something the user can fix."""
