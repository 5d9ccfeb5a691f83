"""The AWS offline labs, each run for real: the break makes `terraform test` (providers from the
local mirror, a mock AWS provider) or the network module's HCL check fail with the lab's lesson; the
reference solution makes them pass, checkov included, and leaves exactly the repository's files
(tests/labs/offlinekit.py)."""

from __future__ import annotations

from tests.labs.offlinekit import OFFLINE_TIMEOUT, LabRun, OfflineLayerTests


@OFFLINE_TIMEOUT
class TestAwsLabs(OfflineLayerTests):
    LAYER = "aws"

    def test_checkov_confirms_the_multi_az_fix(self, runs: dict[str, LabRun]) -> None:
        output = runs["aws-rds-multi-az"].solved.output
        assert "$ checkov " in output, output
        assert "Check: CKV_AWS_157" in output, output
        assert "PASSED for resource: aws_db_instance.postgres" in output, output
