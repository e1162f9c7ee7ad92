"""person_page and person_screen: one record -> one ``person/page`` or ``person/screen`` op (a view).

    {"type":"person","action":"page","identifiers":{"email":..} or {"anonymous_id":..},
     "name":<url>,"id":<ULID>,"timestamp":<unix seconds, when given>,"attributes":{view data}}

Screen views are the same with ``action: screen`` and ``name`` <- ``screen_name``. The person is the
``identifierType`` column when it holds a value, else ``anonymous_id`` (as Segment sends views). The
view's ``name`` (the URL) obeys the event-name limit of 100 bytes (the emulator and, we assume,
Customer.io apply it to page names too), so a longer URL is rejected, never truncated.

Name, id (so a retried or replayed record is one view), time and data follow the shared activity path
(``activity.py``). A page view's data properties ``referrer``, ``path``, ``search``, ``title`` and ``url``
are strings in Customer.io's published contract (``person_page``) and ``keywords`` an array of strings:
a null one is left out, another scalar sent as its text, an object or array rejected
(``attribute_value_not_string``). Screen views have no typed properties.
"""

from __future__ import annotations

from . import common
from .activity import ActivityOperation, activity_schema

_PERSON_FIELDS = tuple(sorted(common.PERSON_FIELDS))


class _View(ActivityOperation):
    """A view of a person, or of a visitor known only by ``anonymous_id``."""

    person = "or_anonymous"


class PersonPage(_View):
    """A page view (``append``): ``url`` is sent as the view's name."""

    object_name, action, name_field = "person_page", "page", "url"
    json_schema = activity_schema(name_field, person=True)
    string_properties = frozenset({"referrer", "path", "search", "title", "url", "keywords"})
    op_fields = (*_PERSON_FIELDS, "anonymous_id", name_field, "event_id", "timestamp")


class PersonScreen(_View):
    """A mobile screen view (``append``): ``screen_name`` is sent as the view's name."""

    object_name, action, name_field = "person_screen", "screen", "screen_name"
    json_schema = activity_schema(name_field, person=True)
    op_fields = (*_PERSON_FIELDS, "anonymous_id", name_field, "event_id", "timestamp")
