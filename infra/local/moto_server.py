"""The local stack's emulator: moto's server, with the corrections the local stack makes where
moto (pinned in requirements.txt) answers unlike S3 in a way the Rust SDK cannot read.

- ListParts: moto names the document's root ListPartsResponse; S3's is ListPartsResult.
- GetBucketNotificationConfiguration of a bucket without notifications: moto answers an empty
  GetBucketNotificationResponse; S3 answers an empty NotificationConfiguration.
- DynamoDB requests: moto's server answers requests on several threads, and its DynamoDB reads,
  checks conditions and writes an item without a lock, so two concurrent updates of one item can
  lose one. Its TransactWriteItems writes to the live tables as it goes and, when cancelled, puts
  back copies of the whole tables taken before it began, wiping what other requests wrote
  meanwhile (a task's counters ended at planned 900, succeeded 900, outstanding -3); a read in
  between sees writes that never happened. DynamoDB applies each write to an item atomically and
  a transaction all at once or not at all; here every DynamoDB request, reads included, runs
  under one lock (tests/dynamodb.rs fails without it).
- GetBucketNotificationConfiguration leaves out the bucket's EventBridgeConfiguration.
- PutBucketNotificationConfiguration: S3 refuses configurations that overlap (a shared event
  type under overlapping prefixes and suffixes) with 400 InvalidArgument "Configurations
  overlap"; moto accepts them.
- S3 events to EventBridge: moto sends `reason` "ObjectCreated", `eTag`, no restore expiry and
  no source class. S3 sends the operation as `reason` (PutObject, POST Object, CopyObject,
  CompleteMultipartUpload), `etag`, `version-id` only for versioned objects, and for a completed
  restore `restore-expiry-time` and `source-storage-class` with S3 itself as the requester.
- StopExecution of an execution waiting for a task token: moto flags the run to stop, and the
  execution stays RUNNING until the wait ends (the state's TimeoutSeconds, a week for slm's).
  Step Functions ends it ABORTED at once: here its status and stop date are set on the call.

Each correction checks that it still applies to the pinned moto, and fails loudly otherwise.
"""

import copy
import re
import sys
import threading
import traceback
import uuid

from moto.core.utils import unix_time
from moto.dynamodb.responses import DynamoHandler
from moto.s3 import notifications as s3_notifications
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend
from moto.s3.responses import S3Response
from moto.server import main
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution as SfnExecution


def rename_root(method_name, wrong, right):
    original = getattr(S3Response, method_name)

    def corrected(self, *args, **kwargs):
        status, headers, body = original(self, *args, **kwargs)
        text = body.decode() if isinstance(body, bytes) else body
        if isinstance(text, str):
            text = re.sub(rf"<{wrong}(\s|/|>)", rf"<{right}\1", text, count=1)
            text = text.replace(f"</{wrong}>", f"</{right}>")
            if "content-length" in headers:
                headers["content-length"] = str(len(text.encode()))
            body = text
        return status, headers, body

    setattr(S3Response, method_name, corrected)


for cls, methods in ((S3Response, ("list_parts", "get_bucket_notification")),
                     (S3Backend, ("put_bucket_notification_configuration",)),
                     (DynamoHandler, ("call_action",))):
    for method in methods:
        if not hasattr(cls, method):
            sys.exit(f"infra/local/moto_server.py: moto has no {cls.__name__}.{method}; review the corrections for this moto version")

# call_action runs each DynamoDB action and writes its answer. Reads take the lock too, so that
# none sees a cancelled transaction's writes or an item half-updated.
DYNAMODB_REQUESTS = threading.RLock()


def serialize_dynamodb():
    original = DynamoHandler.call_action

    def serialized(self, *args, **kwargs):
        with DYNAMODB_REQUESTS:
            return original(self, *args, **kwargs)

    DynamoHandler.call_action = serialized


if not hasattr(SfnExecution, "stop"):
    sys.exit("infra/local/moto_server.py: moto has no stepfunctions parser Execution.stop; review the corrections for this moto version")


def abort_at_once():
    original = SfnExecution.stop

    def stopped(self, stop_date, error, cause):
        original(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    SfnExecution.stop = stopped


for name in ("_send_event_bridge_message", "_detail_type", "S3NotificationEvent"):
    if not hasattr(s3_notifications, name):
        sys.exit(f"infra/local/moto_server.py: moto.s3.notifications has no {name}; review the corrections for this moto version")


def _filter_rules(configuration):
    rules = ((configuration.get("Filter") or {}).get("S3Key") or {}).get("FilterRule") or []
    rules = rules if isinstance(rules, list) else [rules]
    found = {r.get("Name", "").lower(): r.get("Value", "") for r in rules}
    return found.get("prefix", ""), found.get("suffix", "")


def _events_overlap(a, b):
    """s3:ObjectCreated:* covers every s3:ObjectCreated:... event."""
    a, b = a.removeprefix("s3:"), b.removeprefix("s3:")
    if a == b:
        return True
    for wide, narrow in ((a, b), (b, a)):
        if wide.endswith(":*") and narrow.startswith(wide[:-1]):
            return True
    return False


def _overlap(a, b):
    (prefix_a, suffix_a), (prefix_b, suffix_b) = _filter_rules(a), _filter_rules(b)
    prefixes = prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)
    suffixes = suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a)
    events = any(_events_overlap(x, y) for x in a.get("Event", []) for y in b.get("Event", []))
    return prefixes and suffixes and events


def refuse_overlaps():
    original = S3Backend.put_bucket_notification_configuration

    def checked(self, bucket_name, notification_config):
        configurations = []
        for kind in ("TopicConfiguration", "QueueConfiguration", "CloudFunctionConfiguration"):
            listed = (notification_config or {}).get(kind) or []
            configurations.extend(listed if isinstance(listed, list) else [listed])
        for i, a in enumerate(configurations):
            for b in configurations[i + 1:]:
                if _overlap(a, b):
                    raise S3ClientError(
                        "InvalidArgument",
                        "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                    )
        return original(self, bucket_name, notification_config)

    S3Backend.put_bucket_notification_configuration = checked


S3_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}


def aws_event_bridge_events():
    def send(account_id, bucket, event_name, key):
        from moto.events.models import events_backends

        completed = event_name == s3_notifications.S3NotificationEvent.OBJECT_RESTORE_COMPLETED_EVENT
        obj = {"key": key.name, "size": key.size, "etag": key.etag.replace('"', ""), "sequencer": "617F08299329D189"}
        if key.version_id and key.version_id != "null":
            obj["version-id"] = key.version_id
        detail = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": "s3.amazonaws.com" if completed else account_id,
        }
        if event_name in S3_REASONS:
            detail["reason"] = S3_REASONS[event_name]
            detail["source-ip-address"] = "127.0.0.1"
        if completed:
            if key._expiry is not None:
                detail["restore-expiry-time"] = key._expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
            detail["source-storage-class"] = key.storage_class
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": s3_notifications._detail_type(event_name),
            "source": "aws.s3",
            "account": account_id,
            # Unix seconds here: moto's SQS target writes them as S3's ISO time.
            "time": unix_time(),
            "region": bucket.region_name,
            "resources": [bucket.arn],
            "detail": detail,
        }
        backend = events_backends[account_id][bucket.region_name]
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                if rule.state != "ENABLED":
                    continue
                try:
                    rule.send_to_targets(copy.deepcopy(event), transform_input=False)
                except Exception:  # noqa: BLE001 - delivery is asynchronous on AWS: it never fails the S3 request
                    traceback.print_exc()

    s3_notifications._send_event_bridge_message = send


def report_event_bridge():
    original = S3Response.get_bucket_notification

    def reported(self, *args, **kwargs):
        status, headers, body = original(self, *args, **kwargs)
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        text = body.decode() if isinstance(body, bytes) else body
        if config is not None and config.event_bridge is not None and isinstance(text, str):
            bridge = "<EventBridgeConfiguration></EventBridgeConfiguration>"
            text = re.sub(r"<NotificationConfiguration([^>]*)/>", rf"<NotificationConfiguration\1>{bridge}</NotificationConfiguration>", text, count=1)
            if bridge not in text:
                text = text.replace("</NotificationConfiguration>", f"{bridge}</NotificationConfiguration>", 1)
            if bridge not in text:
                raise RuntimeError("infra/local/moto_server.py: no NotificationConfiguration root to report EventBridge in; review the corrections")
            if "content-length" in headers:
                headers["content-length"] = str(len(text.encode()))
            body = text
        return status, headers, body

    S3Response.get_bucket_notification = reported


serialize_dynamodb()
refuse_overlaps()
aws_event_bridge_events()
rename_root("list_parts", "ListPartsResponse", "ListPartsResult")
rename_root("get_bucket_notification", "GetBucketNotificationResponse", "NotificationConfiguration")
report_event_bridge()
abort_at_once()

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
