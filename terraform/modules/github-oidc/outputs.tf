output "push_role_arn" {
  description = "Role GitHub Actions assumes to push images (AWS_PUSH_ROLE_ARN in CI)."
  value       = aws_iam_role.push.arn
}

output "plan_role_arn" {
  description = "Read-only role GitHub Actions assumes for terraform plan (AWS_PLAN_ROLE_ARN in CI)."
  value       = aws_iam_role.plan.arn
}
