"""`heads report` and `heads compare`: a head, or several heads side by side, as one self-contained HTML page
(figures and thumbnails embedded as data URIs; no JavaScript).

    content.py       what a page says, as data (metrics, parameters, the most confidently wrong images)
    html.py          escaped text, tables, images as data URIs, the page shell and its CSS
    head_page.py     one head;  compare_page.py: several heads
    inspect_page.py  a configuration's data: duplicates, label suspects, outliers, the map (map_svg.py)
    api.py           report_head, compare_heads, inspect_data: render and write through the store's staged write
"""
from heads.report.api import GALLERY, compare_heads, inspect_data, report_head

__all__ = ["GALLERY", "compare_heads", "inspect_data", "report_head"]
