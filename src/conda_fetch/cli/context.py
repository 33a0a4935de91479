"""What one command works with, built once from its options and passed down.

The one place where the front end composes the stages: configuration (conda's and
conda-fetch's own), the package cache, the HTTP session, the mirror map, and a run of
:func:`conda_fetch.pipeline.fetch_into_cache` with the live display.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from conda_fetch.cache import PackageCache, all_pkgs_dirs, find_pkgs_dir, find_tool
from conda_fetch.cli.options import engine_options
from conda_fetch.cli.summary import failure_kind, failure_lines, print_summary
from conda_fetch.config import condarc, own
from conda_fetch.config.channels import channel_urls, configured_channels
from conda_fetch.config.tokens import TokenFinder
from conda_fetch.engine import HttpSettings, Listener, Options, make_session
from conda_fetch.engine.http import Session
from conda_fetch.pipeline import Report, fetch_into_cache
from conda_fetch.plan import deduplicate, records_from_args
from conda_fetch.plan.records import Record
from conda_fetch.sources import mirrors as mirrormap

if TYPE_CHECKING:  # rich, the display and the index stage load only when used
    from rich.console import Console

    from conda_fetch.offline.adopt import Lookup
    from conda_fetch.offline.repodata import RepodataIndex


class Context:
    """A command's configuration and the objects made from it, each built on first use.

    ``pkgs_dir`` overrides ``--pkgs-dir``; ``tool`` names the program whose package
    cache is filled (``conda``, ``mamba``, ``micromamba``), conda's by default.
    ``read_only``: the command only reads the cache (nothing is created in it).
    """

    def __init__(self, args: argparse.Namespace, pkgs_dir: str | None = None,
                 tool: str | None = None, read_only: bool = False) -> None:
        self.args = args
        self.read_only = read_only
        self.pkgs_dir = pkgs_dir or getattr(args, "pkgs_dir", None)
        self.tool = tool
        self.config: dict[str, Any] = condarc.load_condarc()

    @cached_property
    def console(self) -> Console:
        """Where people read: standard error, silent with ``--quiet``."""
        from rich.console import Console

        return Console(stderr=True, quiet=self.args.quiet, highlight=False, soft_wrap=True,
                       emoji=False)

    @cached_property
    def own(self) -> dict[str, Any]:
        """conda-fetch's own configuration file."""
        return own.load()

    @cached_property
    def cache(self) -> PackageCache:
        """The package cache to fill or examine; which one, and why, is said when the tool
        that would tell is not on ``PATH``."""
        root = find_pkgs_dir(self.pkgs_dir, config=self.config, tool=self.tool,
                             create=not self.read_only)
        if self.pkgs_dir is None and find_tool(self.tool) is None:
            why = ("pkgs_dirs of your conda settings" if condarc.pkgs_dirs(self.config)
                   else "conda's default for this user")
            self.console.print(f"[yellow]{self.tool or 'conda'} is not on PATH[/]: using the "
                               f"package cache {root} ({why}); give --pkgs-dir, or run this "
                               f"where {self.tool or 'conda'} is (conda activate base)",
                               highlight=False)
        return PackageCache(root)

    @cached_property
    def options(self) -> Options:
        """The engine's options (commands that fetch)."""
        return engine_options(self.args, condarc.remote_timeouts(self.config)[0])

    @cached_property
    def session(self) -> Session:
        """The HTTP session: conda's proxies, certificates and ``ssl_verify``."""
        verify = False if self.args.insecure else condarc.ssl_verify(self.config)
        settings = HttpSettings(verify=verify, proxies=condarc.proxy_servers(self.config),
                                client_cert=condarc.client_cert(self.config))
        pool = self.options.most if hasattr(self.args, "connections") else 16
        return make_session(settings, pool_size=pool)

    def mirrors(self) -> mirrormap.MirrorMap:
        """Every mirror the user configured, highest priority first."""
        presets = [*self.args.preset, *self.own.get("presets", [])]
        return mirrormap.merge(
            mirrormap.from_specs(self.args.mirror, self.config),
            mirrormap.from_toml_section(self.own),
            mirrormap.from_mirrored_channels(self.config),
            mirrormap.from_mirrored_channels(condarc.mambarc()),
            mirrormap.from_toml_section(own.pixi_config()),
            *(mirrormap.preset(name) for name in presets),
        )

    def channels(self, names: list[str]) -> list[str]:
        """Channel URLs for ``names``, else the user's configured channels."""
        return channel_urls(names, self.config) if names else configured_channels(self.config)

    def repodata_index(self) -> RepodataIndex:
        """The channels of ``--channel`` (else the user's), with conda's cached repodata."""
        from conda_fetch.index import IndexFetcher
        from conda_fetch.offline.repodata import RepodataIndex

        cache_dirs = [self.cache.root, *all_pkgs_dirs(config=self.config, run_conda=False)]
        fetcher = IndexFetcher(self.session, Options(
            connect_timeout=condarc.remote_timeouts(self.config)[0]))
        return RepodataIndex(self.channels(self.args.channel), self.session,
                             list(dict.fromkeys(cache_dirs)), fetcher, self.cache.root)

    def record_lookup(self, records: list[Record] | None) -> Lookup:
        """Where records come from: the plans when given, else the channels' repodata."""
        from conda_fetch.offline.adopt import plan_lookup

        if records is not None:
            return plan_lookup(records)
        index = self._index = self.repodata_index()
        return lambda identity: index.find(identity.subdir, identity.fn)

    def index_problems(self) -> list[str]:
        """The channel indexes :meth:`record_lookup` could not read, and why."""
        index = getattr(self, "_index", None)
        return list(index.problems) if index is not None else []

    def with_tokens(self, records: list[Record], source: str,
                    channels: Sequence[str] = ()) -> list[Record]:
        """``records`` of the plan ``source`` with the tokens conda would send: hidden ones
        (``/t/<TOKEN>/``) from the channels the user named with a token (``channels``: a
        command line's ``-c``) or anaconda-client's store, stored ones added."""
        urls = TokenFinder(self.config, channels).resolve_all((r.url for r in records), source)
        return [record if url == record.url else replace(record, url=url)
                for record, url in zip(records, urls, strict=True)]

    def plan_records(self, sources: list[str], platform: str | None) -> list[Record]:
        """The records of plan files and package URLs, each source's tokens in place
        (:meth:`with_tokens`), deduplicated."""
        return deduplicate([
            record for source in sources
            for record in self.with_tokens(records_from_args([source], platform=platform),
                                           source)])

    def fetch(self, records: list[Record]) -> Report:
        """Fetch ``records`` into the cache, with the live display unless quiet."""
        if self.args.quiet:
            return self._fetch(records, Listener())
        from conda_fetch.cli.display import Display

        with Display(self.console) as display:
            return self._fetch(records, display)

    def _fetch(self, records: list[Record], listener: Listener) -> Report:
        return fetch_into_cache(records, self.cache, self.session, self.options, listener,
                                self.mirrors(), own.ranking(self.own))

    def finish(self, report: Report, where: str | None = None) -> int:
        """Print the JSON and the human summary (``where``: how to name the cache, if not
        by its path); the exit code."""
        if self.args.json:
            data = report.as_json()
            failed = cast(list[dict[str, Any]], data["failed"])  # in report.failed's order
            data["failed"] = [{**entry, "kind": failure_kind(error)}
                              for entry, (_, error) in zip(failed, report.failed, strict=True)]
            json.dump(data, sys.stdout, indent=2)
            sys.stdout.write("\n")
        if not self.args.quiet:
            print_summary(self.console, report, where or str(self.cache.root))
        else:  # errors only: each failure and what to do about it
            for line in failure_lines(report):
                print(line, file=sys.stderr)
        return 0 if report.ok else 1
