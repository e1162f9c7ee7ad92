"""person_page and person_screen: one record -> one ``person/page`` or ``person/screen`` op (a view).

    {"type":"person","action":"page","identifiers":{"email":..} or {"anonymous_id":..},
     "name":<url>,"id":<ULID>,"timestamp":<unix seconds, when given>,"attributes":{view data}}

Screen views are the same with ``action: screen`` and ``name`` <- ``screen_name``. The person is the
``identifierType`` column when it holds a value, else ``anonymous_id`` (as Segment sends views). The
view's ``name`` (the URL) obeys the event-name limit of 100 bytes (the emulator and, we assume,
Customer.io apply it to page names too), so a longer URL is rejected, never truncated.

Name, id (so a retried or replayed record is one view), time and data follow the shared activity path
(``activity.py``).
"""

from __future__ import annotations

from . import common
from .activity import ActivityOperation, activity_schema

_PERSON_FIELDS = tuple(sorted(common.PERSON_FIELDS))


class PersonPage(ActivityOperation):
    """A page view (``append``): ``url`` is sent as the view's name."""

    object_name = "person_page"
    json_schema = activity_schema("url", person=True)
    person = "or_anonymous"
    action = "page"
    name_field = "url"
    op_fields = (*_PERSON_FIELDS, "anonymous_id", "url", "event_id", "timestamp")


class PersonScreen(ActivityOperation):
    """A mobile screen view (``append``): ``screen_name`` is sent as the view's name."""

    object_name = "person_screen"
    json_schema = activity_schema("screen_name", person=True)
    person = "or_anonymous"
    action = "screen"
    name_field = "screen_name"
    op_fields = (*_PERSON_FIELDS, "anonymous_id", "screen_name", "event_id", "timestamp")
