variable "name" {
  type        = string
  description = "Name prefix of the key and the reader policy, e.g. shopfloor-prod."
}

variable "secrets" {
  type = map(object({
    name       = string
    properties = list(string)
  }))
  description = "Secrets Manager entries to declare, by consumer (the contract's secrets output); their values are never given to Terraform."
}

variable "secrets_prefix" {
  type        = string
  description = "Every secret's name starts with it (the contract's secrets_prefix, shopfloor/<env>/)."

  validation {
    condition     = can(regex("^[a-z0-9-]+/[a-z0-9-]+/$", var.secrets_prefix))
    error_message = "secrets_prefix looks like shopfloor/<env>/."
  }
}

variable "database_master_secret" {
  type = object({
    arn         = string
    kms_key_arn = string
  })
  description = "The RDS-managed master secret and its key, which the database bootstrap reads through External Secrets; null without RDS."
  default     = null
}

variable "grant_database_master_secret" {
  type        = bool
  description = "Make the policy that reads database_master_secret (known at plan time, unlike the secret's ARN)."
  default     = false
}

variable "region" {
  type        = string
  description = "Region of the secrets (the kms:ViaService condition names Secrets Manager there)."
}

variable "recovery_window_days" {
  type        = number
  description = "Days a deleted secret can still be restored (0 deletes at once: dev only)."
  default     = 7

  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "Secrets Manager accepts 0 or 7 to 30 days."
  }
}
