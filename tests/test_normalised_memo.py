"""The run-to-run memo of normalised resources: same result as normalising, reused only when valid."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson

from driftwatch.model import Resource, ResourceId
from driftwatch.normalise import Redactor, normalise_resource
from driftwatch.normalised_memo import NormalisedMemo

KEY = Redactor(b"memo-test-key")
FUNCTION = ResourceId("aws", "111122223333", "eu-west-1", "lambda/function", "orders-api")
BUCKET = ResourceId("aws", "111122223333", "global", "s3/bucket", "acme-logs")


def lambda_read(password: str) -> Resource:
    config = {
        "FunctionName": "orders-api",
        "LastModified": datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        "MemorySize": Decimal("512"),
        "Environment": {"Variables": {"DB_PASSWORD": password, "LOG_LEVEL": "info"}},
        "Layers": ["arn:aws:lambda:eu-west-1:111122223333:layer:b:1", "arn:aws:lambda:eu-west-1:1:layer:a:2"],
        "ResponseMetadata": {"RequestId": "r-1"},
    }
    return Resource(FUNCTION, config)


def bucket_read(tag: str) -> Resource:
    config = {"Tagging": {"TagSet": [{"Key": "team", "Value": tag}]}, "AccessKeyLastUsed": {"x": 1}}
    return Resource(BUCKET, config, {"Policy": "AccessDenied"})


def test_the_memo_gives_what_normalising_gives_on_the_first_and_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "normalised.json"
    reads = (lambda_read("hunter2-prod"), bucket_read("data"))
    direct = tuple(normalise_resource(r, KEY) for r in reads)
    first = NormalisedMemo(path, KEY)
    assert first.normalise(reads) == direct
    first.save()
    assert NormalisedMemo(path, KEY).normalise(reads) == direct  # from the memo, unreadable kept


def test_an_unchanged_read_is_taken_from_the_memo_and_a_changed_one_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "normalised.json"
    memo = NormalisedMemo(path, KEY)
    memo.normalise((bucket_read("data"),))
    memo.save()
    stored = orjson.loads(path.read_bytes())
    (entry,) = stored["entries"].values()
    entry[0]["Tagging"]["TagSet"][0]["Value"] = "marked by the test"
    path.write_bytes(orjson.dumps(stored))

    (same,) = NormalisedMemo(path, KEY).normalise((bucket_read("data"),))
    (changed,) = NormalisedMemo(path, KEY).normalise((bucket_read("web"),))
    assert same.config["Tagging"] == {"TagSet": [{"Key": "team", "Value": "marked by the test"}]}
    assert changed.config["Tagging"] == {"TagSet": [{"Key": "team", "Value": "web"}]}


def test_another_redaction_key_or_a_damaged_memo_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "normalised.json"
    read = lambda_read("hunter2-prod")
    memo = NormalisedMemo(path, KEY)
    memo.normalise((read,))
    memo.save()

    other_key = Redactor(b"another-installation")
    assert NormalisedMemo(path, other_key).normalise((read,)) == (normalise_resource(read, other_key),)
    path.write_bytes(b'{"fingerprint": tr')
    assert NormalisedMemo(path, KEY).normalise((read,)) == (normalise_resource(read, KEY),)


def test_the_memo_holds_no_secret_in_clear_and_keeps_only_this_runs_resources(tmp_path: Path) -> None:
    path = tmp_path / "normalised.json"
    first = NormalisedMemo(path, KEY)
    first.normalise((lambda_read("hunter2-prod"), bucket_read("data")))
    first.save()
    second = NormalisedMemo(path, KEY)
    second.normalise((lambda_read("hunter2-prod"),))
    second.save()

    text = path.read_bytes()
    assert b"hunter2-prod" not in text
    assert b"[redacted hmac-sha256:" in text
    assert len(orjson.loads(text)["entries"]) == 1  # the bucket is not read any more: dropped


def test_a_new_request_id_or_last_used_date_still_hits_and_the_new_date_is_observed(tmp_path: Path) -> None:
    path = tmp_path / "normalised.json"

    def user_read(request: str, last_used: str) -> Resource:
        config: dict[str, object] = {"UserName": "ops", "PasswordLastUsed": last_used}
        config["ResponseMetadata"] = {"RequestId": request}
        return Resource(ResourceId("aws", "1", "global", "iam/user", "ops"), config)

    memo = NormalisedMemo(path, KEY)
    memo.normalise((user_read("r-1", "2026-12-01T08:00:00Z"),))
    memo.save()
    stored = orjson.loads(path.read_bytes())
    (entry,) = stored["entries"].values()
    entry[0]["UserName"] = "marked by the test"
    path.write_bytes(orjson.dumps(stored))

    (again,) = NormalisedMemo(path, KEY).normalise((user_read("r-2", "2026-12-04T17:00:00Z"),))
    assert again.config == {"UserName": "marked by the test"}  # taken from the memo
    assert again.observations == {"PasswordLastUsed": "2026-12-04T17:00:00Z"}
