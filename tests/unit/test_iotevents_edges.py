"""IoT Events: the first millisecond after the epoch, and derived ids that keep the record's
own timestamp once the element timestamp is added."""

import pytest

from beam_batchput.core.service import InvalidRecord
from beam_batchput.services.iotevents import IoTEventsService
from tests.unit.test_iotevents import record, stamped


def test_the_first_millisecond_after_the_epoch_is_a_valid_timestamp():
    message = IoTEventsService().item(record(timestamp=0.001)).payload
    assert message["timestamp"] == {"timeInMillis": 1}


def test_a_timestamp_at_the_epoch_is_refused():
    with pytest.raises(InvalidRecord) as raised:
        IoTEventsService().item(record(timestamp=0))
    assert raised.value.code == "InvalidTimestamp"
    assert "after the epoch" in raised.value.message


def test_records_differing_only_in_their_timestamp_keep_distinct_ids_in_one_window():
    service = IoTEventsService()
    first, second = (stamped(service, {"timestamp": t}, 5_000_000)
                     for t in (1_700_000_000, 1_700_000_001))
    assert first.item_id != second.item_id
    assert first.payload["messageId"] == first.item_id


@pytest.mark.parametrize("text, millis", [("2023-11-14T22:13:20.0006Z", 1_700_000_000_001),
                                          ("2023-11-14T22:13:20.0004Z", 1_700_000_000_000)])
def test_timestamps_are_rounded_to_the_nearest_millisecond(text, millis):
    assert IoTEventsService().item(record(timestamp=text)).payload["timestamp"] == {
        "timeInMillis": millis}
