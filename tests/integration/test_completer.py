"""The completer service: a batch the database refuses is never stranded."""

from __future__ import annotations

from common.queue_types import AttemptError, Finished
from tests.support.databases import job
from tests.support.factories import make_job, open_store, run


def test_a_refused_result_fails_its_job_and_the_rest_of_the_batch_completes(database_url):
    good = [make_job(database_url, status="IN_PROGRESS", attempts=1) for _ in range(5)]
    nul = make_job(database_url, status="IN_PROGRESS", attempts=1)
    unstorable: list[tuple[str, AttemptError]] = []
    written: dict[str, bool] = {}

    async def go():
        async with open_store(database_url) as store:
            from worker.completer import Completer

            async def refuse(item: Finished, error: AttemptError) -> None:
                unstorable.append((item.id, error))

            completer = Completer(store, on_written=lambda f, ok: written.__setitem__(f.id, ok),
                                  on_unstorable=refuse)
            for job_id in good[:3]:
                completer.submit(Finished(job_id, 1, '{"ok":true}'))
            # Valid JSON text that jsonb refuses (a NUL): the net under encode_result().
            completer.submit(Finished(nul, 1, '{"text":"a\\u0000b"}'))
            for job_id in good[3:]:
                completer.submit(Finished(job_id, 1, '{"ok":true}'))
            assert await completer.run_once(), "refused is not unreachable"
            assert await completer.run_once()
            await completer.drained()

    run(go())
    assert written == {job_id: True for job_id in good}
    assert [job_id for job_id, _ in unstorable] == [nul]
    assert "refused" in unstorable[0][1].message
    for job_id in good:
        assert job(database_url, job_id)["status"] == "COMPLETED"
