"""`heila demo`: the DSO flexibility use case, end to end, on one machine, in well under a minute.

It makes fresh tokens and a temporary configuration, starts the hub (`heila serve`, embedded
broker on a free port, store in a temporary directory), the simulated substation and the field
bridge when they are installed, and each actor as its own process. A modelled day runs fast
(by default a quarter hour in half a second), so the evening peak comes a few seconds after
the start. When the Verification reaches the DSO it prints the product's story from the
hub's named queries and stops everything it started, also on Ctrl-C. With `--store DIR` the
hub keeps its store there, to be queried or served again afterwards; `--keep-running` leaves
the hub up for exploring. With `--days N --store DIR` it writes N days of a made-up market of
many aggregators and sites into DIR instead, through the hub's intake (hub.commands.scenario).
"""

import argparse
import contextlib
import importlib.util
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import OKPKey
from rdflib import Graph, Namespace, URIRef

from actors import story
from actors.cast import STOP_SIGNALS, Cast, Stalled, stop_signals_to
from actors.signing import write_key
from heila_client.hub import HubClient, Refused, Unavailable
from heila_client.parts import now
from hub.commands import scenario
from hub.model import pointmaps
from hub.model.errors import UsageError
from hub.model.resources import examples_dir
from hub.model.vocabulary import HEILA, POINT
from hub.mqtt.broker import free_port
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from hub.trust.certificates import issue
from hub.trust.signature import public_jwk
from hub.web.pointmap_admin import publish_online

ACTORS = {"mgms": "mgms-1", "cems": "cems-1", "ams": "ams-1", "fmp": "fmp-1", "dms": "dms-1"}
"""The actors started first (runner name -> actor id); the SPP starts once they listen."""
SPP = "spp-1"
FIELD = "microgrid-1"
"""the field bridge's actor id: the microgrid whose devices it operates"""
ADMIN = "admin-1"
"""the demo's administrator, who publishes the field's point maps (it sends no messages)"""
EVENING = 16.0
"""modelled hour at which the forecast horizon starts"""
HORIZON_HOURS = 6.0
LISTENING = timedelta(seconds=2)
"""real time the SPP gets, once the others listen, to start before the modelled evening"""
WINDOW_SECONDS = 300
"""how far from its receipt a message's time may lie: the actors carry real times"""
FIELD_PROTOCOLS = {"iec104": "IEC 104", "iec61850": "IEC 61850 MMS"}
"""what a simulated feeder can speak, and its name in what the demo tells"""
FEEDERS = ("feeder-1", "feeder-2")
"""the microgrid substation's feeders, in order: feeder-1 is the microgrid's, with its meter"""
STATIONS = {"iec104": "substation-1", "iec61850": "ied-1"}
"""the id of the station each protocol's simulator is in the point maps"""
METERED = "feeder-1"
"""the feeder of the microgrid's meter (its Site's) and of the breaker an activation closes"""
ICD = examples_dir() / "iec61850" / "heila-ied.icd"
"""the simulated IED's SCL file (actors.bridge.iec61850.scl.SIMULATED_IED: the field's modules
are optional in the demo)"""
_START_TIMEOUT = 30.0


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the hub up afterwards, until Ctrl-C"
    )
    parser.add_argument(
        "--store", type=Path, help="keep the hub's store in this directory (default: thrown away)"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="HTTPS and MQTT over TLS, with a CA and certificate made for the run",
    )
    parser.add_argument(
        "--days",
        type=int,
        help="write this many days of a market of many actors into --store, then stop",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the chain to complete"
    )
    parser.add_argument(
        "--speed", type=float, default=1800.0, help="modelled seconds per real second"
    )
    parser.add_argument(
        "--lead", type=float, default=6.0, help="seconds from start to the modelled 16:00"
    )
    parser.add_argument(
        "--field-protocol",
        default="iec104",
        metavar="PROTOCOLS",
        help="what the substation's feeders speak: iec104 (heila simulate) or iec61850 (heila "
        "simulate-ied, mapped from examples/iec61850/heila-ied.icd); one for both feeders, one "
        "per feeder in order (iec104,iec61850: feeder-1 over IEC 104, feeder-2 over IEC 61850), "
        "or FEEDER=PROTOCOL pairs (feeder-2=iec61850, the others iec104); default iec104",
    )


def field_protocols(text: str) -> dict[str, str]:
    """Each feeder's protocol as `--field-protocol` says it: one protocol for every feeder, one
    per feeder in FEEDERS' order, or FEEDER=PROTOCOL pairs (the feeders not named: iec104)."""
    items = [item.strip() for item in text.split(",")]
    named = dict(item.partition("=")[::2] for item in items if "=" in item)
    bare = [item for item in items if "=" not in item]
    if (named and bare) or len(bare) not in (0, 1, len(FEEDERS)):
        raise UsageError(
            f"--field-protocol {text}: one protocol, one per feeder ({', '.join(FEEDERS)}), "
            "or FEEDER=PROTOCOL pairs"
        )
    if len(bare) == 1:
        bare *= len(FEEDERS)
    chosen = named or dict(zip(FEEDERS, bare, strict=True))
    for feeder, protocol in chosen.items():
        if feeder not in FEEDERS:
            raise UsageError(f"--field-protocol {text}: the feeders are {' and '.join(FEEDERS)}")
        if protocol not in FIELD_PROTOCOLS:
            raise UsageError(
                f"--field-protocol {text}: a feeder speaks {' or '.join(FIELD_PROTOCOLS)} "
                f"(the meter DLMS), not {protocol}"
            )
    return {feeder: chosen.get(feeder, "iec104") for feeder in FEEDERS}


def check(args: argparse.Namespace) -> None:
    if "iec61850" in field_protocols(args.field_protocol).values() and not ICD.is_file():
        raise UsageError(f"--field-protocol iec61850 maps the IED from {ICD}: not found")
    if args.days is not None and (args.days <= 0 or args.store is None):
        raise UsageError("--days takes a positive number of days and needs --store DIR")
    if args.speed <= 0 or args.timeout <= 0:
        raise UsageError("--speed and --timeout must be positive")
    if args.lead < 0:
        raise UsageError("--lead cannot be negative")


@dataclass(frozen=True)
class Setup:
    folder: Path
    http_port: int
    mqtt_port: int
    tokens: dict[str, Path]
    store: Path
    signing_keys: dict[str, Path]
    """the private JWK each actor signs with, the field bridge's included"""
    authority: Path | None = None
    """with TLS, the file of the CA made for the run, which every process trusts"""

    @property
    def url(self) -> str:
        scheme = "http" if self.authority is None else "https"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def mqtt(self) -> str:
        scheme = "mqtt" if self.authority is None else "mqtts"
        return f"{scheme}://127.0.0.1:{self.mqtt_port}"


def prepare(folder: Path, store: Path | None = None, tls: bool = False) -> Setup:
    """Fresh tokens and signing keys for every actor (the field bridge too), their files, and
    the hub's configuration with the tokens' hashes and the keys' public halves: every actor
    that signs must, and messages are taken within WINDOW_SECONDS of their time. The store is
    in `store`, or in `folder` to go with it. With `tls`, a CA and the hub's certificate for the
    run: the hub serves HTTPS and its embedded broker MQTT over TLS."""
    issued = issue(folder / "tls", ("hub",)) if tls else None
    ids = [*ACTORS.values(), SPP, FIELD]
    tokens = {actor: new_token() for actor in [*ids, ADMIN]}
    keys = {actor: OKPKey.generate_key("Ed25519") for actor in ids}
    setup = Setup(
        folder,
        free_port(),
        free_port(),
        {a: folder / f"{a}.token" for a in tokens},
        (store or folder / "store").resolve(),
        {a: folder / f"{a}.jwk" for a in keys},
        issued["ca"] if issued else None,
    )
    for actor, token in tokens.items():
        path = setup.tokens[actor]
        path.touch(mode=0o600)
        path.write_text(token)
    for actor, key in keys.items():
        write_key(key, setup.signing_keys[actor])
    credentials = "".join(
        f'[actors.{actor}]\ntoken_hash = "{hash_token(token)}"\n'
        f"{_signing(actor, keys.get(actor))}\n"
        for actor, token in tokens.items()
    )
    (folder / "hub.toml").write_text(
        f'[hub]\nhost = "127.0.0.1"\nport = {setup.http_port}\nstore = "{setup.store}"\n\n'
        f'[mqtt]\nurl = "embedded"\nembedded_port = {setup.mqtt_port}\n'
        f"embedded_tls = {'true' if tls else 'false'}\n\n"
        f"[trust]\nwindow_seconds = {WINDOW_SECONDS}\n\n{_tls(issued)}{credentials}"
    )
    return setup


def _tls(issued: dict[str, Path] | None) -> str:
    """The hub.toml lines that serve HTTPS and MQTT over TLS with the run's certificate."""
    if issued is None:
        return ""
    return f'[tls]\ncertfile = "{issued["hub"]}"\nkeyfile = "{issued["hub-key"]}"\n\n'


def _signing(actor: str, key: OKPKey | None) -> str:
    """An actor's key and its duty to sign as hub.toml lines; the field bridge is also given
    its role, which its id does not name; the administrator, who sends no messages, none."""
    if key is None:
        return "admin = true\n"
    role = 'role = "IED"\n' if actor == FIELD else ""
    return f"{role}keys = [{json.dumps(public_jwk(key))}]\nsigned = true\n"


def hub_ready(url: str) -> bool:
    try:
        return bool(httpx.get(f"{url}/health", timeout=2).json()["broker"] == "connected")
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def field_available() -> bool:
    return all(importlib.util.find_spec(m) for m in ("substation.server", "actors.bridge.main"))


def meter_map(setup: Setup, speed: float) -> Path:
    """The shipped map of the microgrid's meter, read as often as the fast clock needs: its
    registers several times a modelled quarter hour, its load profile every quarter hour."""
    from actors.bridge import pointmap  # installed with the field, as field_available() checks

    quarter = 900.0 / speed
    text = pointmap.shipped("meter-1.ttl").read_text()
    text = text.replace("dlms:readInterval 10", f"dlms:readInterval {max(0.1, quarter / 5):.3f}")
    text = text.replace("dlms:profileInterval 900", f"dlms:profileInterval {max(1.0, quarter):.3f}")
    path = setup.folder / "meter-1.ttl"
    path.write_text(text)
    return path


def by_protocol(protocols: dict[str, str]) -> dict[str, list[str]]:
    """The feeders each protocol serves, the protocols in the feeders' order."""
    served: dict[str, list[str]] = {}
    for feeder, protocol in protocols.items():
        served.setdefault(protocol, []).append(feeder)
    return served


def spoken(protocols: dict[str, str]) -> str:
    """What the substation speaks, as the demo tells it: `IEC 104`, or each protocol with its
    feeders when they speak several."""
    served = by_protocol(protocols)
    if len(served) == 1:
        return FIELD_PROTOCOLS[next(iter(served))]
    return " and ".join(f"{FIELD_PROTOCOLS[p]} ({', '.join(f)})" for p, f in served.items())


def substation_config(folder: Path, port: int, speed: float) -> Path:
    """The substation both simulators serve their feeders of, its IEC 104 station on `port`.
    The physics runs on the real clock, so the batteries ramp `speed` times faster than a real
    one's 50 kW/s: a ramp then takes the few modelled seconds it takes in the field, not a good
    part of a modelled quarter hour, which the meter would rightly count as energy not
    delivered."""
    config = folder / "substation.toml"
    ramp = f"ramp_kw_per_s = {50.0 * speed:g}\n"
    config.write_text(
        'seed = 7\nstep_ms = 100\ndeadband_percent = 0.5\n\n[[stations]]\nname = "substation-1"\n'
        f'common_address = 1\nhost = "127.0.0.1"\nport = {port}\n\n'
        '[[stations.feeders]]\nname = "feeder-1"\nfirst_address = 1000\nload_kw = 120.0\n'
        'resource = "battery"\nresource_kw = 100.0\n' + ramp + "\n"
        '[[stations.feeders]]\nname = "feeder-2"\nfirst_address = 2000\nload_kw = 80.0\n'
        'resource = "battery"\nresource_kw = 50.0\n' + ramp
    )
    return config


@dataclass(frozen=True)
class Simulator:
    command: list[str]
    """`heila` and its arguments"""
    point_map: Path
    endpoint: list[str]
    """the bridge's arguments that reach it where its map does not say"""


def simulator(
    protocol: str, config: Path, station_port: int, feeders: list[str], folder: Path
) -> Simulator:
    """The simulator of `feeders` speaking `protocol` (IEC 104 on the configuration's
    `station_port`), the map of its station holding only their points, and where the bridge
    reaches it."""
    serves = [argument for feeder in feeders for argument in ("--feeder", feeder)]
    if protocol == "iec61850":
        port = free_port()
        command = ["simulate-ied", "--config", str(config), "--port", str(port), *serves]
        return Simulator(command, ied_map(folder, port, feeders), [])
    return Simulator(
        ["simulate", "--config", str(config), *serves],
        station_map(folder, feeders),
        ["--endpoint", f"{STATIONS[protocol]}=127.0.0.1:{station_port}"],
    )


def start_field(
    cast: Cast, setup: Setup, hub: HubClient, protocols: dict[str, str], speed: float
) -> None:
    """The simulated substation, each feeder speaking its protocol (one simulator per protocol,
    all of one configuration), the microgrid's DLMS/COSEM meter of feeder-1 on a port of its
    own, served by feeder-1's simulator so that it counts what its commands do, and one bridge
    that operates the feeders through every station and reads the meter."""
    from substation.meter import METER_PASSWORD  # the field's modules are optional in the demo

    station_port, meter_port = free_port(), free_port()
    password = {METER_PASSWORD: secrets.token_urlsafe(12)}
    config = substation_config(setup.folder, station_port, speed)
    maps, reached = [], ["--endpoint", f"meter-1=127.0.0.1:{meter_port}"]
    for protocol, feeders in by_protocol(protocols).items():
        started = simulator(protocol, config, station_port, feeders, setup.folder)
        metering = ["--meter", f"{METERED}={meter_port}", "--meter-capture-period"]
        metering.append(f"{900.0 / speed:g}")
        command = [*started.command, *(metering if METERED in feeders else [])]
        cast.start(command[0], ["-m", "hub.commands.cli", *command], env=password)
        maps.append(started.point_map)
        reached += started.endpoint
    maps.append(meter_map(setup, speed))
    publish_field_map(setup, maps)
    reached += [argument for path in maps for argument in ("--point-map", str(path))]
    cast.start(
        "bridge",
        [
            "-m",
            "hub.commands.cli",
            "bridge",
            "--hub",
            setup.url,
            "--actor",
            FIELD,
            "--mqtt",
            setup.mqtt,
            *reached,
            "--buffer",
            str(setup.folder / "bridge-buffer"),
            "--state",
            str(setup.folder / "bridge-state"),
            "--signing-key",
            str(setup.signing_keys[FIELD]),
        ],
        env={"HEILA_TOKEN": setup.tokens[FIELD].read_text(), **password},
    )
    cast.wait_until(
        lambda: hub.listed(type="Measurement", sender=FIELD),
        _START_TIMEOUT,
        "measurement from the field bridge",
    )


def publish_field_map(setup: Setup, maps: list[Path]) -> None:
    """The point maps the bridge runs with, published by the administrator as `heila pointmap
    publish --hub` does: the hub then knows each reading's quantity and unit, which the live
    view's plots of a point name."""
    authorization = {"Authorization": f"Bearer {setup.tokens[ADMIN].read_text()}"}
    publish_online(setup.url, authorization, "field", pointmaps.read(maps))


def feeders_only(graph: Graph, feeders: list[str]) -> Graph:
    """A station's map with the points and commands of `feeders` only, whose ids begin with the
    feeder's name (feeder-2.active-power): the other feeders speak another protocol."""
    for subject in set(graph.subjects()):
        local = str(subject).removeprefix(POINT)
        if local != str(subject) and local.partition(".")[0] not in feeders:
            graph.remove((subject, None, None))
    return graph


def station_map(folder: Path, feeders: list[str]) -> Path:
    """The shipped map of the IEC 104 station, with the points of `feeders`."""
    from actors.bridge import pointmap  # the field's modules are optional in the demo

    graph = feeders_only(Graph().parse(pointmap.shipped(pointmap.DEFAULT_MAP)), feeders)
    path = folder / f"{STATIONS['iec104']}.ttl"
    graph.serialize(path, format="turtle")
    return path


def ied_map(folder: Path, port: int, feeders: list[str]) -> Path:
    """The simulated IED's point map of `feeders`, made from its ICD as `heila pointmap
    from-scl` makes it, with the same point ids as the IEC 104 map (the MGMS verifies from
    feeder-1.active-power) and its breaker-1 closing on an activation, as there."""
    from actors.bridge import pointmap  # the field's modules are optional in the demo
    from actors.bridge.iec61850 import scl

    station = STATIONS["iec61850"]
    made = scl.point_map(scl.read(ICD), station, "127.0.0.1", port, 10.0, 1.0, "")
    graph = feeders_only(made, feeders)
    breaker = URIRef(f"{POINT}{METERED}.breaker-command")
    if (breaker, None, None) in graph:
        graph.add((breaker, pointmap.IEC61850.onActivation, Namespace(HEILA).Close))
    path = folder / f"{station}.ttl"
    graph.serialize(path, format="turtle")
    return path


def actor_command(name: str, actor: str, setup: Setup, origin: datetime, speed: float) -> list[str]:
    return [
        "-m",
        "actors.run",
        name,
        "--hub",
        setup.url,
        "--mqtt",
        setup.mqtt,
        "--token-file",
        str(setup.tokens[actor]),
        "--state",
        str(setup.folder / f"{actor}.state.json"),
        "--signing-key",
        str(setup.signing_keys[actor]),
        "--clock-origin",
        origin.isoformat(),
        "--clock-speed",
        str(speed),
    ]


def start_actors(cast: Cast, setup: Setup, args: argparse.Namespace, field: bool) -> float:
    """Every actor, the SPP last: its forecasts start the story once the others listen. The
    seconds of real time the story starts later than `--lead` said: the actors share a clock
    fixed at launch, so actors that are slow to start (a loaded machine) miss the modelled
    evening and the story takes the next one."""
    evening = now() + timedelta(seconds=args.lead)
    origin = evening - timedelta(hours=EVENING) / args.speed
    started = []
    for name, actor in ACTORS.items():
        command = actor_command(name, actor, setup, origin, args.speed)
        if name == "mgms" and not field:
            command += ["--field", ""]
        started.append(cast.start(name, command))
    cast.wait_until(lambda: all(p.ready.is_set() for p in started), _START_TIMEOUT, "ready actors")
    later = next_evening(evening, now(), args.speed) - evening
    if later:
        tell(
            f"actors    slow to start: the story begins at the next modelled evening, "
            f"{later.total_seconds():.0f} s later"
        )
        time.sleep(max(0.0, (evening - now()).total_seconds()))  # the SPP takes the next
    spp = actor_command("spp", SPP, setup, origin, args.speed)
    spp += ["--start-hour", str(EVENING), "--hours", str(HORIZON_HOURS)]
    cast.start("spp", spp)
    return later.total_seconds()


def next_evening(evening: datetime, ready: datetime, speed: float) -> datetime:
    """The first modelled evening, `evening` or a whole modelled day after it, that actors
    ready at `ready` still face with LISTENING to spare for the SPP to start and forecast."""
    day = timedelta(hours=24) / speed
    missed = max(0, math.ceil((ready + LISTENING - evening) / day))
    return evening + missed * day


def verification(hub: HubClient) -> dict[str, Any] | None:
    """The Verification that reached the DSO, once there is one."""
    found = hub.listed(type="VerificationNotification", recipient=ACTORS["dms"])
    return hub.get(found[0]["id"]) if found else None


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM end the demo through its clean-up, even where the shell that started
    it in the background told it to ignore SIGINT. The first one does: those after it are
    ignored, so that a second Ctrl-C cannot cut the clean-up short."""

    def interrupt(*_: Any) -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt

    with stop_signals_to(interrupt):
        yield


def tell(text: str) -> None:
    print(text, flush=True)


def perform(cast: Cast, setup: Setup, args: argparse.Namespace) -> None:
    if setup.authority is not None:  # the demo, and every process it starts, trusts the run's CA
        os.environ["SSL_CERT_FILE"] = str(setup.authority)
    cast.start(
        "hub", ["-m", "hub.commands.cli", "serve", "--config", str(setup.folder / "hub.toml")]
    )
    cast.wait_until(lambda: hub_ready(setup.url), _START_TIMEOUT, "hub")
    tell(f"hub       {setup.url}  (MQTT {setup.mqtt}, store {setup.store})")
    hub = HubClient(setup.url, setup.tokens[SPP].read_text())
    try:
        field = field_available()
        if field:
            protocols = field_protocols(args.field_protocol)
            start_field(cast, setup, hub, protocols, args.speed)
            tell(
                f"field     simulated substation over {spoken(protocols)}, meter over DLMS, "
                f"bridge as {FIELD}"
            )
        else:
            tell("field     substation simulator or bridge not installed: no field devices")
        later = start_actors(cast, setup, args, field)
        tell(f"actors    {', '.join([*ACTORS.values(), SPP])}: each its own process")
        tell("story     forecasts published; the evening peak comes in a few seconds ...")
        cast.wait_until(
            lambda: verification(hub) is not None, args.timeout + later, "verification at the DSO"
        )
        verified = verification(hub)
        assert verified is not None
        tell("")
        tell(story.chain(hub, verified))
        tell("")
        tell(story.outcome(hub, verified))
        tell(f"SPARQL endpoint {setup.url}/sparql, named queries {setup.url}/queries")
        tell(f"live view {setup.url}/live")
        if args.store is not None:
            tell(f"the store stays in {args.store}: heila serve --store {args.store}")
    finally:
        hub.close()


def fill_days(args: argparse.Namespace) -> int:
    """Write args.days days of the market, ending yesterday, into the store at args.store."""
    try:
        store = open_store(str(args.store))
    except OSError as error:
        raise UsageError(f"cannot open the store at {args.store}: {error}") from None
    try:
        filled = scenario.fill(store, args.days, now() - timedelta(days=args.days))
    finally:
        store.close()
    rate = filled.messages / filled.seconds
    tell(f"wrote {filled.messages} messages of {args.days} days in {filled.seconds:.1f} s")
    tell(f"({rate:.0f} a second) into {args.store}: heila serve --store {args.store}")
    return 0


def run(args: argparse.Namespace) -> int:
    """0 when the chain completed, 1 with a one-line reason when not, 130 on Ctrl-C."""
    check(args)
    if args.days is not None:
        return fill_days(args)
    folder = Path(tempfile.mkdtemp(prefix="heila-demo-"))
    cast = Cast(folder)
    status = 1
    with interruptible():  # until the cast has stopped: a SIGTERM cannot end the demo before
        try:
            perform(cast, prepare(folder, args.store, args.tls), args)
            status = 0
            if args.keep_running:
                cast.stop(keep=1)
                tell("the hub stays up for exploring; Ctrl-C stops it")
                cast.processes[0].popen.wait()
        except (Stalled, Refused, Unavailable) as error:
            print(f"heila demo: {error} (logs in {folder})", file=sys.stderr)
        except KeyboardInterrupt:
            tell("interrupted: stopping")
            if status != 0:
                status = 130
        finally:
            cast.stop()
    if status != 1:
        shutil.rmtree(folder, ignore_errors=True)
    return status
