"""Creates a symmetric KMS key in the emulator and prints its ARN.

usage: create_key.py ENDPOINT_URL CA_FILE
"""

import sys

import boto3

kms = boto3.client(
    "kms",
    endpoint_url=sys.argv[1],
    verify=sys.argv[2],
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
print(kms.create_key(Description="encrypted tests")["KeyMetadata"]["Arn"])
