"""Licences as sources name them, read into one code each; what each allows; the crawl's policies."""

from __future__ import annotations

import pytest

from emotic.errors import FieldError
from emotic.licenses import LICENSES, UnparseableLicense, allowed_by, attribution_line, check_policy, codes_allowed, parse_license


@pytest.mark.parametrize(
    ("text", "url", "version", "code", "name", "licence_url"),
    [
        # Openverse: a code and a version (https://api.openverse.org/v1/, the license and license_version fields)
        ("by-sa", "", "4.0", "by-sa", "CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
        ("cc0", "https://creativecommons.org/publicdomain/zero/1.0/", "1.0", "cc0", "CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("pdm", "", "1.0", "pdm", "Public Domain Mark", "https://creativecommons.org/publicdomain/mark/1.0/"),
        # Wikimedia Commons' LicenseShortName (Commons:Machine-readable data)
        ("CC BY-SA 3.0", "https://creativecommons.org/licenses/by-sa/3.0", "", "by-sa", "CC BY-SA 3.0", "https://creativecommons.org/licenses/by-sa/3.0/"),
        ("CC BY-SA 3.0 de", "", "", "by-sa", "CC BY-SA 3.0", "https://creativecommons.org/licenses/by-sa/3.0/"),
        ("Public domain", "", "", "public-domain", "Public domain", ""),
        ("GFDL", "", "", "gfdl", "GNU Free Documentation License", "https://www.gnu.org/licenses/fdl.html"),
        # Flickr's licence table (flickr.photos.licenses.getInfo): names with URLs
        ("Attribution-NonCommercial-ShareAlike License", "https://creativecommons.org/licenses/by-nc-sa/2.0/", "", "by-nc-sa", "CC BY-NC-SA 2.0",
         "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
        ("No known copyright restrictions", "https://www.flickr.com/commons/usage/", "", "no-known-copyright", "No known copyright restrictions",
         "https://www.flickr.com/commons/usage/"),
        ("United States Government Work", "http://www.usa.gov/copyright.shtml", "", "us-government", "United States Government Work",
         "https://www.usa.gov/government-works"),
        ("Public Domain Dedication (CC0)", "", "", "cc0", "CC0", "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("All Rights Reserved", "", "", "all-rights-reserved", "All rights reserved", ""),
        # COCO's licences: a name with its URL in brackets
        ("Attribution-NoDerivs License (http://creativecommons.org/licenses/by-nd/2.0/)", "", "", "by-nd", "CC BY-ND 2.0",
         "https://creativecommons.org/licenses/by-nd/2.0/"),
        # what people type in a URL list
        ("CC0", "", "", "cc0", "CC0", "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("cc-by-4.0", "", "", "by", "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    ],
)  # fmt: skip
def test_licences_are_read_from_names_codes_and_urls(text, url, version, code, name, licence_url):
    parsed = parse_license(text, url, version)
    assert (parsed.code, parsed.name, parsed.url) == (code, name, licence_url)


def test_no_licence_is_none_and_an_unreadable_one_is_an_error_naming_it():
    assert parse_license("", "") is None
    for text in ("see the website", "Attribution", "ADE20K terms of use"):
        with pytest.raises(UnparseableLicense, match=f"license: '{text}' is not a licence"):
            parse_license(text)


def test_policies_allow_what_each_licence_allows():
    assert "by-nc" in codes_allowed("redistribution") and "all-rights-reserved" not in codes_allowed("redistribution")
    assert set(codes_allowed("commercial")) & {"by-nc", "by-nc-sa", "by-nc-nd"} == set()
    assert "by-nd" in codes_allowed("commercial") and "by-nd" not in codes_allowed("commercial-modification")
    assert allowed_by(["cc0", "pdm"], "cc0") and not allowed_by(["cc0", "pdm"], "by")
    assert all(allowed_by("any", code) for code in LICENSES)


def test_a_policy_that_is_neither_a_name_nor_known_codes_is_refused():
    assert check_policy("commercial") == "commercial" and check_policy(["by", "cc0"]) == ["by", "cc0"]
    with pytest.raises(FieldError, match="licenses: unknown licence code 'cc-by'"):
        check_policy(["cc-by"])
    with pytest.raises(FieldError, match="licenses: must be one of any, redistribution"):
        check_policy("public")


def test_an_attribution_line_names_the_work_its_creator_and_the_licence():
    line = attribution_line("Picnic", "Ana", parse_license("by", version="2.0"), via="Flickr")
    assert line == '"Picnic" by Ana, CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/), via Flickr'
