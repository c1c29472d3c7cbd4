"""With outputs in a bucket, Prefect's persisted conversion results live in the bucket too
(``outputs/cache/results/``), and a rerun finds them there (real SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import secrets

from tests.builders import make_docx


def test_conversion_results_are_kept_in_the_bucket_and_reused(prefect_harness, s3_env):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.build import build_draft

    bucket, client = s3_env.bucket, s3_env.client()
    base = f"results-{secrets.token_hex(4)}"
    client.put_object(Bucket=bucket, Key=f"{base}/inbox/myrorna/1.3 Kvalitet.docx",
                      Body=make_docx(["Myrorna arbetar med kvalitet."]))
    inbox, out = f"s3://{bucket}/{base}/inbox", f"s3://{bucket}/{base}/outputs"

    first = build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    assert first["converted"] == 1
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{base}/outputs/cache/results/")
    assert listed.get("KeyCount", 0) >= 1

    # Without the pipeline's own memory, only Prefect's cache in the bucket can spare pandoc.
    client.delete_object(Bucket=bucket, Key=f"{base}/outputs/cache/state.json")
    state = build_draft(inbox=inbox, out=out, review=False, formats=["docx"], return_state=True)
    assert state.result()["converted"] == 0
    with get_client(sync_client=True) as api:
        runs = api.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert [r.state.name for r in runs if r.name.startswith("convert_files")] == ["Cached"]
