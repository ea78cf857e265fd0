"""`python -m bench.chaos --faults 100 --productions 5`: the fault suite; exits 1 unless every
invariant held."""

from __future__ import annotations

import argparse
import sys

from bench.chaos import Config, run, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--faults", type=int, default=Config.faults, help="kill -9 faults")
    parser.add_argument("--productions", type=int, default=Config.productions)
    parser.add_argument("--broker-restarts", type=int, default=Config.broker_restarts)
    parser.add_argument("--postgres-restarts", type=int, default=Config.postgres_restarts)
    parser.add_argument("--brokers", type=int, default=Config.brokers, help="Kafka nodes")
    parser.add_argument(
        "--node-kills", type=int, default=Config.node_kills, help="kill -9 of a Kafka node"
    )
    parser.add_argument("--extra-workers", type=int, default=Config.extra_workers)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--keep", action="store_true", help="keep the studio's state dir")
    args = parser.parse_args(argv)
    config = Config(
        faults=args.faults,
        productions=args.productions,
        broker_restarts=args.broker_restarts,
        postgres_restarts=args.postgres_restarts,
        seed=args.seed,
        keep=args.keep,
        brokers=args.brokers,
        node_kills=args.node_kills,
        extra_workers=args.extra_workers,
    )
    outcome = run(config, say=lambda line: print(line, flush=True))
    print(table(outcome), flush=True)
    if outcome.state_dir is not None and (config.keep or not outcome.ok):
        print(f"logs and data kept in {outcome.state_dir}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
