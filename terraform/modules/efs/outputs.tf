output "file_system_id" {
  description = "EFS file system ID (the EFS CSI StorageClass's fileSystemId)."
  value       = aws_efs_file_system.shared.id
}

output "access_point_id" {
  description = "Access point ID for the shared directory."
  value       = aws_efs_access_point.shared.id
}
