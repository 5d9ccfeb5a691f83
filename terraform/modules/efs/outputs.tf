output "file_system_id" {
  description = "EFS file system ID (the EFS CSI StorageClass's fileSystemId)."
  value       = aws_efs_file_system.shared.id
}

output "access_point_ids" {
  description = "Access point ID per consumer (a PersistentVolume's volumeHandle is <file system id>::<access point id>)."
  value       = { for key, point in aws_efs_access_point.consumer : key => point.id }
}
