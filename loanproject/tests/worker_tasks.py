"""A task for the worker-logging test; the worker imports it with --include."""

import logging

from celery import shared_task
from prometheus_client import Counter

from loanproject.core.request_context import acting

logger = logging.getLogger("loanproject.tests.worker_tasks")
PAN = "ABCDE1234F"


@shared_task(name="tests.log_a_pan")
def log_a_pan_task() -> str:
    with acting("worker-test"):
        logger.warning("checking customer PAN %s", PAN)
        logger.info("bureau lookup", extra={"pan": PAN})
        try:
            raise ValueError(f"bureau refused PAN {PAN}")
        except ValueError:
            logger.exception("bureau call failed")
    return "done"


JOBS_DONE = Counter("tests_worker_jobs", "Jobs done by the test task")


@shared_task(name="tests.count_a_job")
def count_a_job_task() -> None:
    JOBS_DONE.inc()


@shared_task(name="tests.count_customers")
def count_customers_task() -> int:
    from applications.models import Customer

    return Customer.objects.count()
