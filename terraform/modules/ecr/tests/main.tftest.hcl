# The image repositories: one per service, immutable tags, scanned on push, KMS-encrypted, pruned.
mock_provider "aws" {
  override_during = plan

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/ecr" }
  }
}

run "one_hardened_repository_per_service" {
  command = plan

  variables {
    create_repositories = true
  }

  assert {
    condition     = toset(keys(aws_ecr_repository.service)) == toset(["frontend", "api-gateway", "catalog", "orders", "tools"]) && aws_ecr_repository.service["catalog"].name == "shopfloor/catalog"
    error_message = "repositories are shopfloor/<image>, as environments/<env>/<service>/image.yaml and tools-image.yaml name them"
  }
  assert {
    condition     = alltrue([for repo in aws_ecr_repository.service : repo.image_tag_mutability == "IMMUTABLE" && repo.image_scanning_configuration[0].scan_on_push])
    error_message = "tags are immutable (a promoted digest cannot change under its tag) and every push is scanned"
  }
  assert {
    condition     = alltrue([for repo in aws_ecr_repository.service : repo.encryption_configuration[0].encryption_type == "KMS" && repo.encryption_configuration[0].kms_key == aws_kms_key.ecr[0].arn])
    error_message = "images are encrypted with the rotating customer-managed key"
  }
  assert {
    condition     = aws_kms_key.ecr[0].enable_key_rotation
    error_message = "the key rotates"
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.service["orders"].policy).rules[1].selection.countNumber == 500
    error_message = "enough images are kept to roll prod back"
  }
}
