"""Connect: the read-back (ListDataTableValues) requests, checked against the botocore model and
followed over pages."""

import botocore.session
import botocore.validate

from tests.unit.test_connect import build, record

LIST_VALUES = botocore.session.get_session().get_service_model("connect").operation_model(
    "ListDataTableValues").input_shape


class PagedValues:
    """Answers ListDataTableValues in two pages; the record's value is on the second."""

    def __init__(self, value):
        self.requests = []
        self._value = value

    def list_data_table_values(self, **kwargs):
        self.requests.append(kwargs)
        if len(self.requests) == 1:
            return {"Values": [], "NextToken": "page-2"}
        return {"Values": [self._value]}


def test_the_read_back_follows_the_next_token_with_valid_requests():
    service, (request,), (kwargs,) = build([record()])
    (sent,) = kwargs["Values"]
    client = PagedValues(dict(sent))
    assert [held for _, held in service.held(client, request.items)] == [True]
    for asked in client.requests:
        report = botocore.validate.ParamValidator().validate(asked, LIST_VALUES)
        assert not report.has_errors(), report.generate_report()
    first, second = client.requests
    assert first["PrimaryAttributeValues"] == [
        {"AttributeName": "queue", "Values": ["billing"]},
        {"AttributeName": "region", "Values": ["eu"]}]
    assert "NextToken" not in first and second == dict(first, NextToken="page-2")
