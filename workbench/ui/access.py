"""Who may use the app: the Spaces sign-in option (`WORKBENCH_LOGIN=hf`), the signed-in user that runs carry as
their owner, and the warning a public Space shows when nothing limits who can use it.

Without sign-in the app cannot tell a Space's owner from a visitor (no identity reaches it), so the public-Space
warning is shown to everyone, worded for the owner, with the fix; `WORKBENCH_PUBLIC=yes` says the Space is public
on purpose and hides it."""
from __future__ import annotations

import os
from typing import Mapping

import gradio as gr

from ..errors import ConfigError

LOGIN_ENV = "WORKBENCH_LOGIN"
SIGN_IN = "Sign in with Hugging Face"  # the LoginButton's label, named in every message that asks for it


def login_mode(env: Mapping[str, str] | None = None) -> str | None:
    """"hf" when WORKBENCH_LOGIN asks for the Hugging Face sign-in, None when it is unset or off."""
    value = (os.environ if env is None else env).get(LOGIN_ENV, "").strip().lower()
    if value in ("", "0", "no", "off", "false", "none"):
        return None
    if value in ("hf", "huggingface", "hugging face"):
        return "hf"
    raise ConfigError(f"{LOGIN_ENV}={value!r} is not a sign-in this app knows — set it to hf (Sign in with "
                      "Hugging Face) or leave it unset")


def current_user(profile: gr.OAuthProfile | None, env: Mapping[str, str] | None = None) -> str | None:
    """The signed-in user's name with sign-in on (a gr.Error naming the button when nobody is signed in);
    None with sign-in off, where every visitor sees every run."""
    if login_mode(env) is None:
        return None
    if profile is None or not getattr(profile, "username", None):
        raise gr.Error(f"Sign in first: press \"{SIGN_IN}\" at the top of the page.")
    return profile.username


def may_see(owner: str | None, user: str | None) -> bool:
    """With sign-in off (user None) every run is seen; with it on, only the user's own runs."""
    return user is None or owner == user


def public_space_warning(env: Mapping[str, str] | None = None) -> str | None:
    """The banner for a Space that anyone can use: running on Spaces (SPACE_ID set), no WORKBENCH_AUTH, no
    sign-in, and not declared public on purpose (WORKBENCH_PUBLIC=yes). None when it does not apply."""
    env = os.environ if env is None else env
    if not env.get("SPACE_ID") or env.get("WORKBENCH_AUTH") or login_mode(env) is not None:
        return None
    if env.get("WORKBENCH_PUBLIC", "").strip().lower() in ("1", "yes", "true", "on"):
        return None
    return ("⚠️ **This Space has no sign-in: anyone who opens it can run its models (paid ones on the keys in "
            "its secrets) and see every run in History.** If this is your Space, open its Settings → Variables "
            "and secrets and set `WORKBENCH_LOGIN` to `hf` (visitors then sign in with Hugging Face; add "
            "`hf_oauth: true` to the README's front matter) or `WORKBENCH_AUTH` to `user:password` — or make the "
            "Space private. Public on purpose? Set `WORKBENCH_PUBLIC` to `yes` and this note goes away.")


def oauth_ready() -> str | None:
    """None when Gradio's sign-in can run here; else what to install."""
    try:
        import itsdangerous  # noqa: F401 — the session cookie
        from authlib.integrations.starlette_client import OAuth  # noqa: F401 — what Gradio's sign-in routes import
    except ImportError as e:
        return (f"{LOGIN_ENV}=hf needs Gradio's sign-in extras ({e.name} is missing): pip install "
                "\"gradio[oauth]\" (on a Space, put gradio[oauth] in requirements.txt)")
    return None
