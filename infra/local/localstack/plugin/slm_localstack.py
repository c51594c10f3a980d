"""The local stack's corrections to LocalStack, as providers selected by PROVIDER_OVERRIDE_*.

DynamoDB: LocalStack's DynamoDB on the moto inside LocalStack, one request at a time.

LocalStack's stock DynamoDB provider runs DynamoDB Local (Java, downloaded on first start), which
this machine cannot do. This provider implements nothing itself: every operation falls through to
moto. Like the moto the local stack runs on its own (see moto_server.py), moto updates an item
without a lock and rolls a cancelled transaction back by restoring whole tables, so concurrent
requests lose writes; DynamoDB promises per-item atomicity and serializable transactions, and slm
rests on both. So every DynamoDB request is served under one lock.

Step Functions: StopExecution of an execution waiting for a task token flags the run to stop, and
the execution stays RUNNING until the wait ends (the state's TimeoutSeconds, a week for slm's).
Step Functions ends it ABORTED at once: this provider sets its status and stop date on the call.
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


@aws_provider(api="stepfunctions", name="slm")
def stepfunctions_slm():
    from localstack.aws.api.stepfunctions import ExecutionStatus
    from localstack.services.stepfunctions.provider import StepFunctionsProvider

    class AbortingProvider(StepFunctionsProvider):
        def stop_execution(self, context, execution_arn, error=None, cause=None, **kwargs):
            out = super().stop_execution(context, execution_arn, error=error, cause=cause, **kwargs)
            execution = self._get_execution(context=context, execution_arn=execution_arn)
            if execution.exec_status == ExecutionStatus.RUNNING:
                execution.exec_status = ExecutionStatus.ABORTED
                execution.stop_date = out["stopDate"]
            return out

    return Service.for_provider(AbortingProvider())
