"""The demo: a realistic account on moto's server, an approval, real drift, and the alerts of three runs."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from driftwatch.approve import approve
from driftwatch.collectors.build import build_collector
from driftwatch.config import CONFIG_FILE_NAME, load_config
from driftwatch.defaults import default_text, initial_files
from driftwatch.demo import account, docs_service
from driftwatch.demo import account_data as data
from driftwatch.demo.docs_service import running_docs_service
from driftwatch.demo.moto_server import running_moto_server
from driftwatch.errors import DriftwatchError
from driftwatch.layout import GUARDRAILS
from driftwatch.model import Notification, Severity
from driftwatch.notify.console import ConsoleNotifier
from driftwatch.notify.slack import SlackNotifier
from driftwatch.runner import RunResult, run_once
from driftwatch.store import StateRepo, init_repo

MARKER = ".driftwatch/made-by-demo"  # untracked: .driftwatch/ is ignored
APPROVER = ("Alex Admin", "alex.admin@example.com")
SECURITY = ("Sam Security", "sam.security@example.com")
DEMO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "DRIFTWATCH_REDACTION_KEY": "demo-redaction-key",
    docs_service.TOKEN_ENV: docs_service.TOKEN,
}


class SlackPreview:
    """Prints the Slack messages a run would post (the demo has no Slack workspace to post to)."""

    name = "slack-preview"
    min_severity = Severity.INFO

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.slack = SlackNotifier(
            "#drift-alerts", "demo-token-never-sent", self.min_severity, thread_details=True
        )

    def notify(self, notification: Notification) -> None:
        """Print the digest and its thread replies, or say that nothing would be posted."""
        text = self.slack.preview(notification)
        quiet = len(notification.quiet)
        if not text:
            self.out(
                f"Slack #drift-alerts: no message (nothing new, nothing resolved; {quiet} still open).\n"
            )
            return
        framed = "\n".join(f"  | {line}" for line in text.splitlines())
        self.out(f"Slack #drift-alerts gets this digest:\n{framed}\n")


def _command() -> str:
    """How to call driftwatch from here: the virtualenv's script when it is not on PATH."""
    script = Path(sys.executable).parent / "driftwatch"
    if shutil.which("driftwatch") == str(script) or not script.exists():
        return "driftwatch"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def demo_config(endpoint_url: str) -> str:
    """The example config, aimed at the emulator and the demo's two regions."""
    regions = ", ".join(f'"{r}"' for r in account.DEMO_REGIONS)
    return (
        default_text("config.example.toml")
        .replace('endpoint_url = ""', f'endpoint_url = "{endpoint_url}"')
        .replace('regions = ["us-east-1"]', f"regions = [{regions}]")
    )


def prepare(directory: Path) -> None:
    """Make room for the demo's state repository, replacing only one that a demo made."""
    if directory.exists() and (directory.is_file() or any(directory.iterdir())):
        if not (directory / MARKER).exists():
            raise DriftwatchError(
                f"{directory}: exists and was not made by the demo; choose another folder with --dir"
            )
        shutil.rmtree(directory)


def run_demo(directory: Path, out: Callable[[str], None]) -> RunResult:
    """Seed, run, approve, drift, run again; print the story and leave the state repository."""
    os.environ.update(DEMO_ENVIRONMENT)  # the demo never reaches a real AWS account
    directory = directory.resolve()
    prepare(directory)
    started = time.monotonic()
    out("Starting moto's AWS emulator on 127.0.0.1 (a real HTTP server speaking the AWS APIs) ...")
    try:
        import moto.server  # noqa: F401 - the emulator is an extra: driftwatch[demo]
    except ImportError:
        raise DriftwatchError(
            "the demo needs moto's server: pip install 'driftwatch[demo]' (`make demo` does this)"
        ) from None
    with running_moto_server() as endpoint, running_docs_service() as (docs, docs_url):
        account.seed_account(endpoint)
        out(
            f"Seeded a realistic account at {endpoint}: S3 buckets, security groups, CloudTrail "
            f"trails, KMS keys and databases in {' and '.join(account.DEMO_REGIONS)}, IAM users, "
            "groups, roles, policies and a password policy, Lambda functions, EBS snapshots, an AMI, "
            "SNS, SQS, AWS Config and GuardDuty.\n"
            f"Started Acme Docs, a SaaS file-sharing service, at {docs_url}; driftwatch reads it "
            "through a [saas.docs] table in driftwatch.toml and a rule written as data.\n"
        )
        files = initial_files(demo_config(endpoint) + docs_service.docs_config(docs_url))
        files[GUARDRAILS] += docs_service.DOCS_GUARDRAIL
        init_repo(directory, files, "driftwatch", "driftwatch@localhost")
        (directory / MARKER).parent.mkdir(exist_ok=True)
        (directory / MARKER).write_text("made by `driftwatch demo`; safe to delete\n")
        config = load_config(directory / CONFIG_FILE_NAME)
        collector = build_collector(config)

        out("== Run 1: read the account and store it in git ==")
        first = run_once(config, collector, [])
        counts = {s: len([f for f in first.report.findings if f.severity == s]) for s in Severity}
        out(
            f"Read {first.report.resources_read} resources into {directory}/snapshots "
            f"(commit {(first.report.commit or '')[:10]}). Nothing is approved yet, so every guardrail "
            f"finding shows: {counts[Severity.CRITICAL]} critical, {counts[Severity.HIGH]} high, "
            f"{counts[Severity.LOW]} unapproved resources.\n"
        )

        out(f"== An admin reviews them and approves the baseline by a commit ({APPROVER[0]}) ==")
        approval = approve(
            StateRepo(directory),
            [],
            everything=True,
            author=APPROVER,
            reason="Initial review: the public website buckets and load balancers are "
            "intended; everything else matches our standards.",
        )
        out(f"Approved {len(approval.approved)} resources in commit {(approval.commit or '')[:10]}.\n")

        out(f"== The security team closes a leftover public bucket and approves the fix ({SECURITY[0]}) ==")
        account.fix_leftover_bucket(endpoint)
        run_once(config, collector, [])
        fix = approve(
            StateRepo(directory),
            [account.LEFTOVER_BUCKET],
            everything=False,
            author=SECURITY,
            reason="Close the leftover public FTP mirror (SEC-142)",
        )
        out(
            f"{account.LEFTOVER_BUCKET}: ACL made private; the fix is approved in commit "
            f"{(fix.commit or '')[:10]}.\n"
        )

        out("== Someone changes things in the account, and AWS changes a default ==")
        account.apply_drift(endpoint)
        docs.share_with_anyone()
        account.reopen_leftover_bucket(endpoint)
        encrypted = [b for b in account.provider_encrypts_by_default(endpoint) if b != account.NEW_BUCKET]
        out(
            f"- bucket {account.DRIFTED_BUCKET}: public access block removed, public-read policy added\n"
            f"- security group {account.OPENED_GROUP_NAME} ({account.OPENED_GROUP_REGION}): "
            "port 22 opened to 0.0.0.0/0 and ::/0\n"
            f"- user {account.MFA_REMOVED_USER}: MFA device removed\n"
            f"- new bucket {account.NEW_BUCKET}\n"
            f"- bucket {account.TAGGED_BUCKET}: tag {account.TAGGED_BUCKET_TAG} changed (harmless)\n"
            f"- bucket {account.LEFTOVER_BUCKET}: the old public-read ACL restored (the fix undone)\n"
            f"- AWS (simulated) turns on default encryption (SSE-S3) on the {len(encrypted)} existing "
            "buckets that had none (and on the new one), as it did on 5 January 2023\n"
            f"- Acme Docs: {docs_service.DRIFTED_SETTING} set to anyone_with_link (files open to anyone "
            "with the link)\n"
            f"- role {data.TRUST_OPENED_ROLE}: account {data.PARTNER_ACCOUNT} may now assume it\n"
            f"- password policy: minimum length {data.WEAKENED_PASSWORD_LENGTH}\n"
            f"- customer-managed policy {data.WIDENED_POLICY}: a new default version allows everything\n"
            f"- group {data.ESCALATED_GROUP}: AdministratorAccess attached\n"
            f"- trail {data.STOPPED_TRAIL}: logging stopped\n"
            f"- KMS key {data.ROTATION_OFF_KEY}: automatic rotation turned off\n"
            f"- database {data.PUBLIC_DB}: made publicly accessible; cluster {data.DB_CLUSTER}: TLS made "
            "optional (rds.force_ssl = 0)\n"
            f"- lambda {data.ORDERS_FUNCTION}: {data.LEAKED_SECRET_KEY} added in plain text, a function URL "
            "without auth\n"
            f"- EBS encryption by default turned off in {data.EBS_DEFAULT_REGION}; the database snapshot "
            f"and AMI {data.IMAGE_NAME} shared with everyone\n"
            f"- EC2 instance {data.WEB_INSTANCE_NAME}: its metadata service answers IMDSv1 again\n"
            f"- SNS topic {data.ALERTS_TOPIC} and SQS queue {data.ORDER_EVENTS_QUEUE} opened to everyone\n"
            f"- AWS Config recorder stopped and GuardDuty suspended in {data.CONFIG_REGION}\n"
        )

        out("== Run 2: driftwatch reads the account again and reports ==")
        second = run_once(config, collector, [ConsoleNotifier(out, Severity.INFO), SlackPreview(out)])

        out("== Run 3: nothing changed since run 2 ==")
        # The console's report is shown for run 2 only; it stays a notifier, so that what it was
        # told is kept (a notifier left out of a run is one removed from the config).
        quiet_console = ConsoleNotifier(lambda _: None, Severity.INFO)
        run_once(config, collector, [quiet_console, SlackPreview(out)])

        out(
            "== The team reverts the dangerous changes and approves the intended ones ==\n"
            f"- bucket {account.DRIFTED_BUCKET} private again; SSH closed on {account.OPENED_GROUP_NAME}\n"
            f"- {APPROVER[0]} approves the new bucket {account.NEW_BUCKET} and the tag change on "
            f"{account.TAGGED_BUCKET}\n"
        )
        account.revert_drift(endpoint)
        approve(
            StateRepo(directory),
            [account.NEW_BUCKET, account.TAGGED_BUCKET],
            everything=False,
            author=APPROVER,
            reason="Export bucket for the Q4 audit; cost centre moved with the data team.",
        )

        out("== Run 4: driftwatch tells what was resolved, and nothing else ==")
        fourth = run_once(config, collector, [quiet_console, SlackPreview(out)])
        still = fourth.notification.quiet if fourth.notification else ()
        out(
            "Still open, not repeated until the daily reminder: "
            + ", ".join(f"{f.rule} on {f.resource.name}" for f in still)
            + "\n"
        )
    log = StateRepo(directory).repo.git.log("--format=%h %s  (%an)")
    out(f"\nThe state repository's history (the audit trail):\n{log}\n")
    out(
        f"Demo finished in {time.monotonic() - started:.1f} s. The state repository is {directory}\n"
        f"  git -C {directory} log -p                 # what changed, when, approved by whom\n"
        f"  {_command()} -c {directory / CONFIG_FILE_NAME} history {account.DRIFTED_BUCKET}\n"
        "(the emulator and Acme Docs have stopped, so further runs on this repository report them as "
        "unreachable)"
    )
    return second
