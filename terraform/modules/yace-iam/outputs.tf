output "role_arn" {
  description = "Role YACE's ServiceAccount assumes: its eks.amazonaws.com/role-arn annotation."
  value       = aws_iam_role.yace.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.yace.name
}
