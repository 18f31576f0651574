"""Ory's Python Kratos SDK (ory-kratos-client, pydantic models that validate every field and
enum) parses every self-service flow Gatehouse answers: login (first factor, and aal2 with TOTP
and backup codes), registration, settings (profile, password, TOTP, backup codes, passkeys),
recovery and verification, plus the session and the identity. Any value outside Kratos's schema
(an autocomplete, a node type, a message type) makes a model refuse it, and this script exit 1.

Usage: kratos_models.py PUBLIC_URL ADMIN_URL EMAIL PASSWORD
"""

import sys

import ory_kratos_client
from ory_kratos_client.api.frontend_api import FrontendApi
from ory_kratos_client.api.identity_api import IdentityApi
from ory_kratos_client.models.update_login_flow_body import UpdateLoginFlowBody
from ory_kratos_client.models.update_login_flow_with_password_method import (
    UpdateLoginFlowWithPasswordMethod,
)
from ory_kratos_client.models.update_settings_flow_body import UpdateSettingsFlowBody
from ory_kratos_client.models.update_settings_flow_with_lookup_method import (
    UpdateSettingsFlowWithLookupMethod,
)


def main() -> int:
    public, admin, email, password = sys.argv[1:5]
    pub = ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=public))
    adm = ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=admin))
    frontend = FrontendApi(pub)
    identities = IdentityApi(adm)
    parsed = []

    def seen(name, flow):
        kinds = sorted({n.group for n in flow.ui.nodes})
        parsed.append(f"{name}: {len(flow.ui.nodes)} nodes ({', '.join(kinds)})")

    login = frontend.create_native_login_flow()
    seen("login", login)
    seen("registration", frontend.create_native_registration_flow())
    seen("recovery", frontend.create_native_recovery_flow())
    seen("verification", frontend.create_native_verification_flow())

    done = frontend.update_login_flow(
        flow=login.id,
        update_login_flow_body=UpdateLoginFlowBody(
            UpdateLoginFlowWithPasswordMethod(
                method="password", identifier=email, password=password
            )
        ),
    )
    token = done.session_token
    session = frontend.to_session(x_session_token=token)
    parsed.append(f"session: {session.authenticator_assurance_level}")

    settings = frontend.create_native_settings_flow(x_session_token=token)
    seen("settings", settings)
    # New backup codes shown in the flow, then confirmed: both answers parse.
    shown = frontend.update_settings_flow(
        flow=settings.id,
        x_session_token=token,
        update_settings_flow_body=UpdateSettingsFlowBody(
            UpdateSettingsFlowWithLookupMethod(
                method="lookup_secret", lookup_secret_regenerate=True
            )
        ),
    )
    seen("settings with backup codes", shown)
    confirmed = frontend.update_settings_flow(
        flow=settings.id,
        x_session_token=token,
        update_settings_flow_body=UpdateSettingsFlowBody(
            UpdateSettingsFlowWithLookupMethod(
                method="lookup_secret", lookup_secret_confirm=True
            )
        ),
    )
    seen("settings saved", confirmed)
    seen("login aal2", frontend.create_native_login_flow(aal="aal2", x_session_token=token))

    identity = identities.get_identity(id=session.identity.id)
    parsed.append(f"identity: {identity.schema_id}")
    for line in parsed:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
