"""Loopback stand-ins for the AWS services botocore's credential chain calls, each issuing fresh
temporary keys into a shared `keys` table (the one `BedrockServer` verifies signatures against):

- `GET /container-credentials`: the ECS/EKS container credentials endpoint
  (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), which must get `AWS_CONTAINER_AUTHORIZATION_TOKEN` as its
  `Authorization` header;
- `POST /` with `Action=AssumeRoleWithWebIdentity`: STS (`AWS_ENDPOINT_URL_STS`), which must get the
  token from `AWS_WEB_IDENTITY_TOKEN_FILE`, the role ARN and a session name (the form is checked
  against the STS service model by botocore's own validator); answers STS's XML;
- `GET /federation/credentials`: the SSO portal (`AWS_ENDPOINT_URL_SSO`), which must get the access
  token of the SSO cache in `x-amz-sso_bearer_token` and the profile's account and role.
"""

from __future__ import annotations

import datetime
import itertools
from urllib.parse import parse_qsl

from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, ValidationFailed
from tests.servers.bedrock_wire import AwsKeys, validate_input

ROLE_ARN = "arn:aws:iam::123456789012:role/rupu-test"
ACCOUNT_ID = "123456789012"
ROLE_NAME = "RupuDeveloper"
STS_XML = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>{access_key}</AccessKeyId>
      <SecretAccessKey>{secret_key}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:rupu</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/rupu-test/{session}</Arn>
      <AssumedRoleId>AROATEST:{session}</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>sts-req-1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"""


class AwsIdentityServer(LoopbackServer):
    def __init__(
        self,
        keys: dict[str, AwsKeys],
        *,
        container_token: str = "container-auth-token-3c9d",
        web_identity_token: str = "eyJ.web-identity-token.sig",
        sso_access_token: str = "sso-access-token-77aa",
    ) -> None:
        super().__init__()
        self.keys = keys
        self.container_token = container_token
        self.web_identity_token = web_identity_token
        self.sso_access_token = sso_access_token
        self.issued: list[tuple[str, AwsKeys]] = []
        self._serial = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/container-credentials", self.container)
        app.router.add_post("/", self.sts)
        app.router.add_get("/federation/credentials", self.sso)

    def _issue(self, source: str) -> AwsKeys:
        serial = next(self._serial)
        keys = AwsKeys(
            f"ASIA{source.upper()[:6]}{serial:04d}",
            f"secret/{source}/{serial}",
            f"session-token-{source}-{serial}",
        )
        self.keys[keys.access_key] = keys
        self.issued.append((source, keys))
        return keys

    @staticmethod
    def _expiry(hours: int = 1) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours)

    async def _checked(self, request: web.Request) -> RecordedRequest | web.Response:
        recorded = await self.record(request)
        try:
            self.validate(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            return web.Response(status=400, text=str(exc))
        return recorded

    def validate(self, request: RecordedRequest) -> None:
        if request.path == "/container-credentials":
            if request.headers.get("authorization") != self.container_token:
                raise ValidationFailed("container credentials: wrong or missing Authorization")
        elif request.path == "/":
            form = dict(parse_qsl(request.raw.decode()))
            if form.pop("Action", None) != "AssumeRoleWithWebIdentity":
                raise ValidationFailed(f"STS: unexpected action in {sorted(form)}")
            if form.pop("Version", None) != "2011-06-15":
                raise ValidationFailed("STS: missing Version=2011-06-15")
            report = validate_input("sts", "AssumeRoleWithWebIdentity", form)
            if report is not None:
                raise ValidationFailed(f"STS input: {report}")
            if form["WebIdentityToken"] != self.web_identity_token or form["RoleArn"] != ROLE_ARN:
                raise ValidationFailed("STS: not the token file's token or not the role")
        elif request.path == "/federation/credentials":
            if request.headers.get("x-amz-sso_bearer_token") != self.sso_access_token:
                raise ValidationFailed("SSO: not the cached access token")
            if request.query != {"role_name": ROLE_NAME, "account_id": ACCOUNT_ID}:
                raise ValidationFailed(f"SSO: unexpected query {request.query}")

    async def container(self, request: web.Request) -> web.StreamResponse:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        keys = self._issue("container")
        return web.json_response(
            {
                "AccessKeyId": keys.access_key,
                "SecretAccessKey": keys.secret_key,
                "Token": keys.token,
                "Expiration": self._expiry().strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )

    async def sts(self, request: web.Request) -> web.StreamResponse:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        keys = self._issue("webid")
        session = dict(parse_qsl(checked.raw.decode()))["RoleSessionName"]
        xml = STS_XML.format(
            access_key=keys.access_key,
            secret_key=keys.secret_key,
            token=keys.token,
            expiration=self._expiry().strftime("%Y-%m-%dT%H:%M:%SZ"),
            session=session,
        )
        return web.Response(text=xml, content_type="text/xml")

    async def sso(self, request: web.Request) -> web.StreamResponse:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        keys = self._issue("sso")
        expiration = int(self._expiry().timestamp() * 1000)
        return web.json_response(
            {
                "roleCredentials": {
                    "accessKeyId": keys.access_key,
                    "secretAccessKey": keys.secret_key,
                    "sessionToken": keys.token,
                    "expiration": expiration,
                }
            }
        )
