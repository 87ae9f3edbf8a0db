"""AWS credentials for a Google Cloud worker, by web identity federation.

Used as an AWS ``credential_process``: reads a Google-signed ID token of the
worker's service account from the metadata server, exchanges it with AWS STS
(AssumeRoleWithWebIdentity) for short-lived credentials of ``--role-arn``, and
prints them in the ``credential_process`` JSON format. No long-lived AWS key
exists anywhere; the AWS role trusts ``accounts.google.com`` for the service
account's unique id. See templates/dataflow/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any, Callable, Dict, Optional

_METADATA_URL = ("http://metadata.google.internal/computeMetadata/v1/instance/"
                 "service-accounts/default/identity?audience={audience}&format=full")


def fetch_google_id_token(audience: str, timeout: float = 5.0) -> str:
    """The worker's Google ID token for ``audience``, from the metadata server."""
    request = urllib.request.Request(_METADATA_URL.format(audience=audience),
                                     headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310: fixed URL
        return response.read().decode("ascii")


def credentials(role_arn: str, session_name: str, audience: str,
                token_source: Callable[[str], str] = fetch_google_id_token,
                sts_client: Optional[Any] = None) -> Dict[str, Any]:
    """Short-lived AWS credentials in the ``credential_process`` format."""
    if sts_client is None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        sts_client = boto3.client("sts", config=Config(signature_version=UNSIGNED))
    answer = sts_client.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=session_name,
        WebIdentityToken=token_source(audience))["Credentials"]
    expiration = answer["Expiration"]
    return {"Version": 1, "AccessKeyId": answer["AccessKeyId"],
            "SecretAccessKey": answer["SecretAccessKey"], "SessionToken": answer["SessionToken"],
            "Expiration": expiration.isoformat() if hasattr(expiration, "isoformat")
            else str(expiration)}


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument("--session-name", default="beam-batchput")
    parser.add_argument("--audience", default="sts.amazonaws.com")
    args = parser.parse_args(argv)
    json.dump(credentials(args.role_arn, args.session_name, args.audience), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
