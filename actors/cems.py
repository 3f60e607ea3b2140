"""Customer Energy Management System (CEMS): a household's energy management, the MGMS's idea
at home. Its flexible device is the heat pump, which can pause for two hours in the evening
peak; it has no field bridge, so it switches the heat pump itself and records the command.
"""

import argparse

from actors.actor import Actor
from actors.mgms import EnergyManager, Site

DEFAULT_ID = "cems-1"

HOUSEHOLD = Site(
    location="feeder-1",
    device="heatpump-1",
    base_kw=1.0,
    evening_kw=2.5,
    morning_kw=0.8,
    heating_kw_per_degree=0.25,
    pv_kwp=0.0,
    flex_kw=3.0,
    flex_kwh=6.0,
    flex_hours=2.0,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aggregator", default="ams-1", help="the AMS that sells its flexibility")
    parser.add_argument("--dso", default="dms-1", help="the DMS that receives its plans")


def install(actor: Actor, args: argparse.Namespace) -> None:
    EnergyManager(actor, HOUSEHOLD, args.aggregator, args.dso)
