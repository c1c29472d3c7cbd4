"""With outputs in a bucket, each file's kept conversion lives in the bucket too
(``outputs/cache/converted/``), and a run without the pipeline's memory finds it there (real
SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import secrets

from tests.builders import make_docx


def test_conversion_results_are_kept_in_the_bucket_and_reused(prefect_harness, s3_env):
    from flows.build import build_draft

    bucket, client = s3_env.bucket, s3_env.client()
    base = f"results-{secrets.token_hex(4)}"
    client.put_object(Bucket=bucket, Key=f"{base}/inbox/myrorna/1.3 Kvalitet.docx",
                      Body=make_docx(["Myrorna arbetar med kvalitet."]))
    inbox, out = f"s3://{bucket}/{base}/inbox", f"s3://{bucket}/{base}/outputs"

    first = build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    assert first["converted"] == 1
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{base}/outputs/cache/converted/")
    assert listed.get("KeyCount", 0) == 1

    # Without the pipeline's own memory, what was kept in the bucket spares pandoc.
    client.delete_object(Bucket=bucket, Key=f"{base}/outputs/cache/state.json")
    again = build_draft(inbox=inbox, out=out, review=False, formats=["docx"])
    assert again["converted"] == 0
