"""Result pages in the markup each engine uses, generated for the tests and the benchmark."""

from __future__ import annotations

import html
import json
from urllib.parse import urlencode


def bing_page(results: list[dict]) -> bytes:
    """Bing image search markup: ``<a class="iusc" m="{json}">`` per result, amid other markup."""
    tiles = []
    for r in results:
        meta = html.escape(json.dumps({"murl": r["image_url"], "purl": r.get("page_url", ""), "t": r.get("title", "")}))
        tiles.append(
            f'<li><div class="imgpt"><a class="iusc" style="height:180px" m="{meta}" href="/images/search?view=detail">'
            f'<img class="mimg" src="/th?id=OIP.{len(tiles)}" alt="{html.escape(r.get("title", ""))}"></a></div></li>'
        )
    return (
        "<!DOCTYPE html><html><head><title>Bing images</title></head><body>"
        '<a class="iusc" href="#">a tile without metadata is ignored</a>'
        f'<ul class="dgControl_list">{"".join(tiles)}</ul></body></html>'
    ).encode()


def google_page(results: list[dict]) -> bytes:
    """Google's classic image results: ``<div class="rg_meta notranslate">{json}</div>`` per result."""
    tiles = []
    for r in results:
        meta = json.dumps({"ou": r["image_url"], "ru": r.get("page_url", ""), "pt": r.get("title", ""), "ity": "jpg"})
        tiles.append(
            f'<div class="rg_bx"><a class="rg_l" href="/imgres?imgurl=x"><img src="data:,"></a>'
            f'<div class="rg_meta notranslate">{html.escape(meta)}</div></div>'
        )
    return f'<html><body><div id="rg_s">{"".join(tiles)}</div></body></html>'.encode()


def google_basic_page(results: list[dict]) -> bytes:
    """Google's basic-HTML image results (``gbv=1``): each thumbnail links to ``/imgres?imgurl=…&imgrefurl=…``."""
    cells = []
    for r in results:
        query = urlencode({"imgurl": r["image_url"], "imgrefurl": r.get("page_url", ""), "h": 600, "w": 800, "sa": "X"})
        cells.append(
            f'<td><a href="/imgres?{html.escape(query)}"><img src="https://encrypted-tbn0.test/images?q=tbn:{len(cells)}" '
            f'alt="{html.escape(r.get("title", ""))}" width="150"></a><br>'
            f'<a href="/url?q={html.escape(r.get("page_url", ""))}&amp;sa=U">{html.escape(r.get("title", ""))}</a></td>'
        )
    return (
        '<html><body><a href="/search?q=x&amp;tbm=isch&amp;start=20">Next</a>'
        f'<table class="images_table"><tr>{"".join(cells)}</tr></table></body></html>'
    ).encode()
