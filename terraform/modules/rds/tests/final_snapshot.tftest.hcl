# Deletion protection and the final snapshot follow var.deletion_protection: prod sets it true
# (environments/prod/terraform.tfvars, passed on by the stack), dev and staging false. Planned
# against a mocked AWS provider (no AWS here); tests/terraform/test_terraform_rds.py runs it.

mock_provider "aws" {
  # The policy ARN is built from the partition and validated by the provider.
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
}

variables {
  identifier                = "shopfloor-test"
  vpc_id                    = "vpc-0a1b2c3d4e5f60718"
  db_subnet_group_name      = "shopfloor-test-db"
  cluster_security_group_id = "sg-0a1b2c3d4e5f60718"
  internal_zone_id          = "Z0A1B2C3D4E5F6"
  dns_name                  = "postgresql.test.shopfloor.internal"
}

run "protected_database_keeps_a_final_snapshot" {
  command = plan

  variables {
    deletion_protection = true
  }

  assert {
    condition     = aws_db_instance.postgres.deletion_protection == true
    error_message = "deletion_protection = true must plan a database AWS refuses to delete."
  }

  assert {
    condition     = aws_db_instance.postgres.skip_final_snapshot == false
    error_message = "deletion_protection = true must plan a final snapshot on destroy."
  }
}

run "unprotected_database_can_be_torn_down" {
  command = plan

  variables {
    deletion_protection = false
  }

  assert {
    condition     = aws_db_instance.postgres.deletion_protection == false
    error_message = "deletion_protection = false must plan a database that can be deleted."
  }

  assert {
    condition     = aws_db_instance.postgres.skip_final_snapshot == true
    error_message = "deletion_protection = false must skip the final snapshot, so destroy does not leave one behind."
  }
}
