"""Our own words in markup built with ``format_html`` (``crm.web.markup``)."""

from django.utils.html import format_html

from crm.web.markup import format_template


def test_our_text_is_escaped_and_its_braces_stay_literal():
    template = format_template('Tom & "Jerry\'s" {draft} <b> {n}')

    assert template == "Tom &amp; &quot;Jerry&#x27;s&quot; {{draft}} &lt;b&gt; {{n}}"
    assert format_html(template, n=1) == "Tom &amp; &quot;Jerry&#x27;s&quot; {draft} &lt;b&gt; {n}"


def test_a_placeholder_becomes_a_field_whose_value_is_escaped():
    template = format_template("Closed %(date)s {sic}", date="closed")

    assert format_html(template, closed="<1 May>") == "Closed &lt;1 May&gt; {sic}"


def test_markup_of_ours_stays_markup_and_the_value_is_escaped():
    template = format_template(
        'Move<span class="visually-hidden"> “%(title)s”</span>', markup=True, title="title"
    )

    assert format_html(template, title="<x> {y}") == (
        'Move<span class="visually-hidden"> “&lt;x&gt; {y}”</span>'
    )
