// Gatehouse's WebAuthn helper, served at /.well-known/ory/webauthn.js (Kratos's path).
//
// The flow's trigger buttons (`webauthn_register_trigger`, `webauthn_login_trigger`) carry the
// ceremony's options as JSON in their `value`. This script runs the ceremony with
// navigator.credentials.create/get, writes the browser's JSON credential into the hidden input
// (`webauthn_register` / `webauthn_login`) and submits the form with `method=webauthn`.
// It is a static file: no inline script. Buttons are bound by their `data-webauthn-trigger`
// attribute (Gatehouse's pages) or, without it, by name; Kratos's global functions
// (window.oryWebAuthnLogin, window.oryWebAuthnRegistration) stay for UIs that call them.
(function () {
  "use strict";

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function parse(opts) {
    return typeof opts === "string" ? JSON.parse(opts) : opts;
  }

  function formOf(name) {
    var input = document.querySelector('input[name="' + name + '"]');
    return input ? { input: input, form: input.form } : null;
  }

  function submit(target, credential) {
    target.input.value = JSON.stringify(credential);
    var form = target.form;
    if (!form) return;
    var method = form.querySelector('input[type="hidden"][name="method"]');
    if (!method) {
      method = document.createElement("input");
      method.type = "hidden";
      method.name = "method";
      form.appendChild(method);
    }
    method.value = "webauthn";
    form.submit();
  }

  function registration(opts) {
    var o = parse(opts).publicKey;
    o.challenge = fromB64url(o.challenge);
    o.user.id = fromB64url(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return navigator.credentials.create({ publicKey: o }).then(function (c) {
      return {
        id: c.id,
        rawId: toB64url(c.rawId),
        type: c.type,
        extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
        response: {
          attestationObject: toB64url(c.response.attestationObject),
          clientDataJSON: toB64url(c.response.clientDataJSON),
          transports: c.response.getTransports ? c.response.getTransports() : undefined,
        },
      };
    });
  }

  function authentication(opts, conditional, signal) {
    var o = parse(opts).publicKey;
    o.challenge = fromB64url(o.challenge);
    (o.allowCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    var req = { publicKey: o };
    if (conditional) req.mediation = "conditional";
    if (signal) req.signal = signal;
    return navigator.credentials.get(req).then(function (c) {
      return {
        id: c.id,
        rawId: toB64url(c.rawId),
        type: c.type,
        extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
        response: {
          authenticatorData: toB64url(c.response.authenticatorData),
          clientDataJSON: toB64url(c.response.clientDataJSON),
          signature: toB64url(c.response.signature),
          userHandle: c.response.userHandle ? toB64url(c.response.userHandle) : null,
        },
      };
    });
  }

  function fail(e) {
    if (window.console) console.error("WebAuthn:", e);
  }

  var pending = null;

  window.oryWebAuthnRegistration = function (opts) {
    var target = formOf("webauthn_register");
    if (!target) return;
    var name = document.querySelector('input[name="webauthn_register_displayname"]');
    if (name && !name.value) {
      name.focus();
      return;
    }
    registration(opts).then(function (c) {
      submit(target, c);
    }, fail);
  };

  window.oryWebAuthnLogin = function (opts) {
    var target = formOf("webauthn_login");
    if (!target) return;
    if (pending) pending.abort();
    pending = null;
    authentication(opts, false).then(function (c) {
      submit(target, c);
    }, fail);
  };

  // Kratos's names from before `oryWebAuthn*`.
  window.__oryWebAuthnRegistration = window.oryWebAuthnRegistration;
  window.__oryWebAuthnLogin = window.oryWebAuthnLogin;

  // The functions a button may name in `data-webauthn-trigger`: Gatehouse's pages render
  // `<button type="button" data-webauthn-trigger="oryWebAuthnLogin">` instead of Kratos's inline
  // `onclick`, so their CSP can forbid inline scripts.
  var TRIGGERS = ["oryWebAuthnLogin", "oryWebAuthnRegistration"];

  function bind(button, name) {
    button.addEventListener("click", function (e) {
      e.preventDefault();
      window[name](button.value);
    });
  }

  function wire() {
    var buttons = document.querySelectorAll("button[data-webauthn-trigger], input[data-webauthn-trigger]");
    for (var i = 0; i < buttons.length; i++) {
      var name = buttons[i].getAttribute("data-webauthn-trigger");
      if (TRIGGERS.indexOf(name) >= 0) bind(buttons[i], name);
    }
    // Buttons without the attribute (UIs that render Kratos's nodes themselves), by name.
    var reg = document.querySelector('[name="webauthn_register_trigger"]');
    if (reg && !reg.hasAttribute("data-webauthn-trigger")) bind(reg, "oryWebAuthnRegistration");
    var login = document.querySelector('[name="webauthn_login_trigger"]');
    if (login) {
      if (!login.hasAttribute("data-webauthn-trigger")) bind(login, "oryWebAuthnLogin");
      // Passkey autofill (conditional mediation) when the page has a field for it.
      var opts = parse(login.value);
      var field = document.querySelector('input[autocomplete~="webauthn"]');
      if (
        field &&
        opts.mediation === "conditional" &&
        window.PublicKeyCredential &&
        PublicKeyCredential.isConditionalMediationAvailable
      ) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
          if (!ok) return;
          pending = new AbortController();
          authentication(login.value, true, pending.signal).then(function (c) {
            submit(formOf("webauthn_login"), c);
          }, fail);
        });
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();
