# One set of repositories for every environment: promotion moves an image digest from dev to
# staging to prod, so all three pull the same repositories. One stack (dev) creates them; the
# others look them up (create_repositories = false).
resource "aws_kms_key" "ecr" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the IAM policies that use the key are scoped to it, which is where access is reviewed.
  count = var.create_repositories ? 1 : 0

  description         = "${var.namespace} ECR image encryption"
  enable_key_rotation = true
}

resource "aws_ecr_repository" "service" {
  for_each = var.create_repositories ? toset(var.services) : toset([])

  name                 = "${var.namespace}/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ecr[0].arn
  }
}

data "aws_ecr_repository" "service" {
  for_each = var.create_repositories ? toset([]) : toset(var.services)

  name = "${var.namespace}/${each.key}"
}

locals {
  created      = { for service, repo in aws_ecr_repository.service : service => { url = repo.repository_url, arn = repo.arn } }
  looked_up    = { for service, repo in data.aws_ecr_repository.service : service => { url = repo.repository_url, arn = repo.arn } }
  repositories = merge(local.created, local.looked_up) # one of the two is empty
  kms_key_arn  = var.create_repositories ? aws_kms_key.ecr[0].arn : one(data.aws_ecr_repository.service[var.services[0]].encryption_configuration).kms_key
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each = aws_ecr_repository.service

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images (failed or superseded builds)"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest tagged images, enough to roll back"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
