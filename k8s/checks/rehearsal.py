#!/usr/bin/env python3
"""Helpers of .ci/rehearse_deploy.sh: read what the rendered dev Deployment says,
and judge what the app answered.

  rehearsal.py extract RENDERED.yaml OUTDIR DATABASE_URI [PORT=HOSTPORT...]
      Writes, for the init container `migrate` and the container `conduit`:
        OUTDIR/{init,app}.args   the command line, one argument per line
        OUTDIR/{init,app}.env    the environment, KEY=VALUE per line, resolved
                                 the way the kubelet does it (envFrom first,
                                 then env in order, $(VAR) expanded from what
                                 is defined before)
        OUTDIR/facts.sh          ports, probe paths, user, timings (sh syntax)
      Secrets are filled with local test values: the database Secret's `uri`
      is DATABASE_URI, the JWT key a fresh random one; optional keys stay unset.
      PORT=HOSTPORT stands a free host port in for a container port (a pod has
      its ports to itself; the host running the rehearsal may not): the
      listen addresses in the environment and the ports in facts.sh follow.

  rehearsal.py config ENVFILE CONFIG_OUTPUT
      Compares every CONDUIT_* variable of ENVFILE with the effective setting
      printed by `conduit config`, proving that each variable takes effect with
      the value the manifest gives it.

  rehearsal.py json FILE EXPR
      Loads a JSON response and prints the value of a dotted path (e.g.
      user.token); exits 1 with the body if it is not there.
"""
import json
import os
import re
import secrets
import sys

import yaml

SAFE = re.compile(r"^[A-Za-z0-9/_.:-]*$")


def resolve_env(container, configmaps, secret_values):
    env, order = {}, []

    def define(name, value):
        if name not in env:
            order.append(name)
        env[name] = value

    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            for k, v in configmaps[source["configMapRef"]["name"]].items():
                define(source.get("prefix", "") + k, v)
        elif "secretRef" in source:
            for k, v in secret_values.get(source["secretRef"]["name"], {}).items():
                define(source.get("prefix", "") + k, v)
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            # $(VAR) is replaced when VAR is already defined; $$ escapes.
            value = re.sub(r"\$\$|\$\((\w+)\)",
                           lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                           item["value"])
            define(name, value)
            continue
        ref = item.get("valueFrom") or {}
        if "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            value = secret_values.get(r["name"], {}).get(r["key"])
        elif "configMapKeyRef" in ref:
            r = ref["configMapKeyRef"]
            value = configmaps.get(r["name"], {}).get(r["key"])
        else:
            sys.exit(f"{container['name']}: {name} uses {sorted(ref)}, which a rehearsal cannot provide")
        if value is None:
            if r.get("optional"):
                continue
            sys.exit(f"{container['name']}: {name} needs {r['name']}/{r['key']}, which does not exist")
        define(name, value)
    for name in order:
        if "\n" in env[name]:
            sys.exit(f"{container['name']}: {name} spans several lines")
    return [f"{name}={env[name]}" for name in order]


def port_number(port, container):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    sys.exit(f"{container['name']}: no port named {port}")


def on_host(line, ports):
    """A CONDUIT_*LISTEN=ADDRESS:PORT line with the port's stand-in."""
    name, _, value = line.partition("=")
    host, sep, port = value.rpartition(":")
    if name.endswith("LISTEN") and sep and port.isdigit() and int(port) in ports:
        return f"{name}={host}:{ports[int(port)]}"
    return line


def extract(rendered, outdir, database_uri, *port_map):
    ports = {int(a): int(b) for a, b in (m.split("=") for m in port_map)}
    docs = [d for d in yaml.safe_load_all(open(rendered)) if isinstance(d, dict)]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "conduit")
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    # What .ci/kops_cluster.sh (dev) would put in the Secrets, with local values.
    secret_values = {
        "conduit-db-app": {"uri": database_uri, "username": "postgres", "password": "",
                           "dbname": "conduit_rehearsal", "host": "127.0.0.1", "port": "5432"},
        "conduit-secret": {"secret": secrets.token_hex(32)},
    }
    pod = deployment["spec"]["template"]["spec"]
    init = next(c for c in pod["initContainers"] if c["name"] == "migrate")
    app = next(c for c in pod["containers"] if c["name"] == "conduit")
    for label, c in (("init", init), ("app", app)):
        argv = (c.get("command") or []) + (c.get("args") or [])
        with open(os.path.join(outdir, f"{label}.args"), "w") as fh:
            fh.write("".join(a + "\n" for a in argv))
        with open(os.path.join(outdir, f"{label}.env"), "w") as fh:
            env = resolve_env(c, configmaps, secret_values)
            fh.write("".join(on_host(line, ports) + "\n" for line in env))
    psc = pod.get("securityContext") or {}
    sc = app.get("securityContext") or {}
    facts = {
        "RUN_AS_USER": sc.get("runAsUser", psc.get("runAsUser")),
        "RUN_AS_GROUP": sc.get("runAsGroup", psc.get("runAsGroup")),
        "GRACE_SECONDS": pod.get("terminationGracePeriodSeconds", 30),
        "PRESTOP_SLEEP": ((app.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0),
    }
    for name in ("http", "metrics"):
        port = port_number(name, app)
        facts[f"{name.upper()}_PORT"] = ports.get(port, port)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = app.get(probe)
        if not p or "httpGet" not in p:
            sys.exit(f"conduit: {probe} must be an httpGet probe")
        key = probe.replace("Probe", "").upper()
        facts[f"{key}_PATH"] = p["httpGet"]["path"]
        port = port_number(p["httpGet"]["port"], app)
        facts[f"{key}_PORT"] = ports.get(port, port)
        facts[f"{key}_BUDGET"] = p.get("periodSeconds", 10) * p.get("failureThreshold", 3) \
            + p.get("initialDelaySeconds", 0)
    with open(os.path.join(outdir, "facts.sh"), "w") as fh:
        for k, v in facts.items():
            if v is None or not SAFE.match(str(v)):
                sys.exit(f"unexpected value for {k}: {v!r}")
            fh.write(f"{k}={v}\n")


def compare_config(envfile, config_output):
    settings, table = {}, None
    for line in open(config_output):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            table = m.group(1)
            continue
        key, _, value = line.partition(" = ")
        settings[f"{table}.{key}" if table else key] = json.loads(value)
    problems, checked = [], 0
    for line in open(envfile):
        name, _, value = line.rstrip("\n").partition("=")
        if not name.startswith("CONDUIT_"):
            continue
        key = name[len("CONDUIT_"):].lower().replace("__", ".")
        if key not in settings:
            problems.append(f"{name}: the app has no setting `{key}`")
            continue
        got = settings[key]
        if key in ("secret", "previous_secret"):
            ok = got == "<redacted>"
        elif key == "database_url":
            # Shown with the password redacted: compare everything else.
            ok = re.sub(r":[^:@/]*@", "@", value) == re.sub(r":[^:@/]*@", "@", str(got))
        else:
            try:
                want = json.loads(value)
            except ValueError:
                want = value
            ok = want == got or str(want) == str(got)
        checked += 1
        if not ok:
            problems.append(f"{name}={value!r} but the app's effective {key} is {got!r}")
    for p in problems:
        print(f"FAIL {p}")
    print(f"{checked} CONDUIT_* variables match the app's effective settings" if not problems
          else f"{len(problems)} variable(s) do not take effect")
    sys.exit(1 if problems else 0)


def json_path(path, expr):
    text = open(path).read()
    try:
        value = json.loads(text)
        for part in expr.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
    except (ValueError, KeyError, IndexError, TypeError):
        sys.exit(f"no {expr} in the response: {text[:500]}")
    print(value if not isinstance(value, (dict, list)) else json.dumps(value))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"extract": extract, "config": compare_config, "json": json_path}[cmd](*args)
