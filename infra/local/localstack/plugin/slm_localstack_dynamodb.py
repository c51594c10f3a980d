"""LocalStack's DynamoDB on the moto inside LocalStack, one request at a time.

LocalStack's stock DynamoDB provider runs DynamoDB Local (Java, downloaded on first start), which
this machine cannot do. This provider implements nothing itself: every operation falls through to
moto. Like the moto the local stack runs on its own (see moto_server.py), moto updates an item
without a lock and rolls a cancelled transaction back by restoring whole tables, so concurrent
requests lose writes; DynamoDB promises per-item atomicity and serializable transactions, and slm
rests on both. So every DynamoDB request is served under one lock.
"""

import threading

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, ServiceLifecycleHook, aws_provider

REQUESTS = threading.Lock()


class MotoDynamodbProvider(DynamodbApi, ServiceLifecycleHook):
    """Every operation unimplemented, so that each is served by moto."""


def serialized(table):
    def wrap(handler):
        def call(context, request):
            with REQUESTS:
                return handler(context, request)

        return call

    return {op: wrap(handler) for op, handler in table.items()}


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    provider = MotoDynamodbProvider()
    return Service.for_provider(provider, dispatch_table_factory=lambda p: serialized(MotoFallbackDispatcher(p)))
