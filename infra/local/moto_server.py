"""The local stack's emulator: moto's server, with the corrections the local stack makes where
moto (pinned in requirements.txt) answers unlike S3 in a way the Rust SDK cannot read.

- ListParts: moto names the document's root ListPartsResponse; S3's is ListPartsResult.
- GetBucketNotificationConfiguration of a bucket without notifications: moto answers an empty
  GetBucketNotificationResponse; S3 answers an empty NotificationConfiguration.
- DynamoDB writes: moto's server answers requests on several threads and its DynamoDB reads,
  checks conditions and writes an item without a lock, so two concurrent updates of one item can
  lose one (a task's counter missed a file under load). DynamoDB applies each write to an item
  atomically; here every write runs under one lock.

Each correction checks that it still applies to the pinned moto, and fails loudly otherwise.
"""

import re
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.s3.responses import S3Response
from moto.server import main


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
                     (DynamoHandler, ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"))):
    for method in methods:
        if not hasattr(cls, method):
            sys.exit(f"infra/local/moto_server.py: moto has no {cls.__name__}.{method}; review the corrections for this moto version")

DYNAMODB_WRITES = threading.RLock()


def atomic(method_name):
    original = getattr(DynamoHandler, method_name)

    def locked(self, *args, **kwargs):
        with DYNAMODB_WRITES:
            return original(self, *args, **kwargs)

    setattr(DynamoHandler, method_name, locked)


for write in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
    atomic(write)

rename_root("list_parts", "ListPartsResponse", "ListPartsResult")
rename_root("get_bucket_notification", "GetBucketNotificationResponse", "NotificationConfiguration")

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
