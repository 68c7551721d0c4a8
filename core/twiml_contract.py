"""Twilio's TwiML contract for Voice, read from Twilio's own published definitions.

`core/twiml_spec/` holds twilio-node's generated `VoiceResponse.d.ts` and `VoiceResponse.js`
(see its SOURCE.md). From them this module builds, once per process, a model of every element:
its XML tag, the attributes it takes with their types (an enumeration such as `GatherLanguage`,
a space-separated list of one, a boolean, a number, or free text) and the elements it may
contain. `violations()` checks a whole TwiML document against that model (the test suite runs it
on every response the app produces); `check_value()` and `allowed_values()` check one value, for
configuration validated at start-up. Twilio does not reject a wrong value when it receives the
TwiML: it logs a warning and, e.g. for `<Gather language>`, the gather fails and the caller's
speech is lost (twilio.com/docs/api/errors/13331). So the checks must happen on our side.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Literal

#: Where the vendored definitions live (package data of `core`).
SPEC_PACKAGE = "core"
SPEC_DIR = "twiml_spec"
DEFINITIONS = "VoiceResponse.d.ts"
BUILDER = "VoiceResponse.js"
#: The class twilio-node builds the document with; TwiML.js creates its root as `<Response>`.
ROOT_CLASS = "VoiceResponse"
ROOT_TAG = "Response"
#: TwiML run on the officer's leg by `<Number url>` "is not allowed to contain the <Dial> verb"
#: (twilio.com/docs/voice/twiml/number).
OFFICER_LEG_FORBIDDEN = "Dial"
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_PRIMITIVES = ("string", "number", "boolean")
#: How many allowed values a message shows.
_EXAMPLES = 5

Kind = Literal["string", "number", "boolean", "enum"]


class ContractError(RuntimeError):
    """The vendored definitions could not be read into a model (a changed file format)."""


@dataclasses.dataclass(frozen=True)
class AttributeType:
    """What one attribute accepts."""

    kind: Kind
    #: The enumeration's values (kind "enum"), e.g. GatherLanguage's.
    values: frozenset[str] = frozenset()
    #: A list (`GatherInput[]`): TwiML writes it space-separated.
    many: bool = False
    #: The definitions' name for the type, for messages (`GatherLanguage`, `number`).
    type_name: str = "string"


@dataclasses.dataclass(frozen=True)
class ElementSpec:
    """One element class of the definitions (a verb, a noun, Response or an SSML tag)."""

    class_name: str
    tag: str
    attributes: Mapping[str, AttributeType]
    #: Child tag → the class of the child element.
    children: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Contract:
    """Every element of Twilio's Voice TwiML, by class name."""

    elements: Mapping[str, ElementSpec]

    @property
    def root(self) -> ElementSpec:
        """The `<Response>` element."""
        return self.elements[ROOT_CLASS]

    def by_tag(self, tag: str) -> list[ElementSpec]:
        """The element classes that write `tag` (`<Sip>` in `<Dial>` and in `<Refer>` are two)."""
        return [spec for spec in self.elements.values() if spec.tag == tag]


# --- reading the definitions -------------------------------------------------------------------

_ALIAS = re.compile(r"^\s*type (\w+) = (.+);\s*$")
_STRING_LITERAL = re.compile(r'"([^"]*)"')
_CLASS = re.compile(r"^\s*(?:declare|export) class (\w+) extends TwiML \{")
_INTERFACE = re.compile(r"^\s*export interface (\w+) \{")
_PROPERTY = re.compile(r'^\s*("[^"]+"|\w+)\?: ([^;]+);\s*$')
_METHOD = re.compile(r"^\s*(\w+)\((.*)\): VoiceResponse\.(\w+);\s*$")
_ATTRIBUTES_PARAM = re.compile(r"attributes\??: (?:VoiceResponse\.(\w+)|object)")
_ELE = re.compile(r'new VoiceResponse\.(\w+)\(this\.\w+\.ele\("([^"]+)"')


def _read(name: str) -> str:
    return resources.files(SPEC_PACKAGE).joinpath(SPEC_DIR, name).read_text(encoding="utf-8")


def _aliases(definitions: str) -> dict[str, frozenset[str]]:
    """`type X = "a" | "b";` → {"X": {"a", "b"}}."""
    aliases = {}
    for line in definitions.splitlines():
        match = _ALIAS.match(line)
        if not match:
            continue
        name, union = match.groups()
        values = _STRING_LITERAL.findall(union)
        # Nothing but string literals joined by `|`: anything else is a format this parser
        # doesn't know, and guessing would silently accept wrong values.
        if not values or _STRING_LITERAL.sub("", union).replace("|", "").strip():
            raise ContractError(f"{DEFINITIONS}: type {name} is not a union of strings: {union}")
        aliases[name] = frozenset(values)
    return aliases


def _attribute_type(raw: str, aliases: Mapping[str, frozenset[str]], where: str) -> AttributeType:
    text = raw.strip()
    many = text.endswith("[]")
    base = text.removesuffix("[]").strip()
    if base in _PRIMITIVES:
        kind: Kind = "string" if base == "string" else "number" if base == "number" else "boolean"
        return AttributeType(kind=kind, many=many, type_name=text)
    if base in aliases:
        return AttributeType(kind="enum", values=aliases[base], many=many, type_name=text)
    inline = _STRING_LITERAL.findall(base)
    if inline and not _STRING_LITERAL.sub("", base).replace("|", "").strip():
        return AttributeType(kind="enum", values=frozenset(inline), many=many, type_name=text)
    raise ContractError(f"{DEFINITIONS}: {where} has a type this parser doesn't know: {raw}")


def _parse(definitions: str, builder: str) -> Contract:
    aliases = _aliases(definitions)
    interfaces: dict[str, dict[str, AttributeType]] = {}
    # class → method → (child class, attribute interface or None)
    methods: dict[str, dict[str, tuple[str, str | None]]] = {}
    current_class: str | None = None
    current_interface: str | None = None
    for line in definitions.splitlines():
        if match := _CLASS.match(line):
            current_class, current_interface = match.group(1), None
            methods.setdefault(current_class, {})
        elif match := _INTERFACE.match(line):
            # TypeScript merges interfaces declared twice (ParameterAttributes is), so do we.
            current_class, current_interface = None, match.group(1)
            interfaces.setdefault(current_interface, {})
        elif current_interface and (match := _PROPERTY.match(line)):
            name = match.group(1).strip('"')
            where = f"{current_interface}.{name}"
            interfaces[current_interface][name] = _attribute_type(match.group(2), aliases, where)
        elif current_class and (match := _METHOD.match(line)):
            method, params, child = match.groups()
            param = _ATTRIBUTES_PARAM.search(params)
            interface = param.group(1) if param else None
            known_child, known_interface = methods[current_class].get(method, (child, None))
            if known_child != child:
                raise ContractError(f"{DEFINITIONS}: {current_class}.{method} returns two classes")
            # Overloads: `say(message)` and `say(attributes, message)`; the typed one counts.
            methods[current_class][method] = (child, interface or known_interface)

    tags: dict[str, str] = {}
    for child, tag in _ELE.findall(builder):
        if tags.setdefault(child, tag) != tag:
            raise ContractError(f"{BUILDER}: {child} is written as <{tags[child]}> and <{tag}>")
    tags[ROOT_CLASS] = ROOT_TAG

    attributes: dict[str, dict[str, AttributeType]] = {name: {} for name in methods}
    children: dict[str, dict[str, str]] = {name: {} for name in methods}
    for parent, table in methods.items():
        for method, (child, interface) in table.items():
            if child not in methods or child not in tags:
                raise ContractError(f"{parent}.{method}: no class or tag for {child}")
            if interface is not None:
                if interface not in interfaces:
                    raise ContractError(f"{parent}.{method}: no interface {interface}")
                attributes[child].update(interfaces[interface])
            if children[parent].setdefault(tags[child], child) != child:
                raise ContractError(f"{parent}: two classes write <{tags[child]}>")
    if ROOT_CLASS not in methods or not children[ROOT_CLASS]:
        raise ContractError(f"{DEFINITIONS}: no {ROOT_CLASS} class with verbs")
    elements = {
        name: ElementSpec(
            class_name=name, tag=tags[name], attributes=attributes[name], children=children[name]
        )
        for name in methods
        if name in tags
    }
    return Contract(elements=elements)


@functools.cache
def contract() -> Contract:
    """The model of Twilio's Voice TwiML, parsed from the vendored definitions once."""
    return _parse(_read(DEFINITIONS), _read(BUILDER))


# --- checking ----------------------------------------------------------------------------------


def _examples(value: str, allowed: frozenset[str]) -> str:
    """A few allowed values, those most like `value` first (zh-CN → zh-TW, zh, cmn-Hans-CN)."""
    tokens = {t for t in re.split(r"[-_. ]", value.lower()) if t}

    def rank(candidate: str) -> tuple[int, float, str]:
        shared = len(tokens & set(re.split(r"[-_. ]", candidate.lower())))
        ratio = difflib.SequenceMatcher(None, value.lower(), candidate.lower()).ratio()
        return (-shared, -ratio, candidate)

    ranked = sorted(allowed, key=rank)
    # Values sharing a part with `value` (a language or a region) say most; others only pad.
    alike = [candidate for candidate in ranked if rank(candidate)[0] < 0]
    best = (alike or ranked)[:_EXAMPLES]
    more = ", ..." if len(allowed) > len(best) else ""
    return ", ".join(best) + more


def _value_problem(tag: str, attribute: str, kind: AttributeType, value: str) -> str | None:
    items = value.split() if kind.many else [value]
    if kind.many and not items:
        return f"{value!r} is not a <{tag} {attribute}>: an empty list ({kind.type_name})"
    for item in items:
        if kind.kind == "enum" and item not in kind.values:
            return (
                f"{item!r} is not a <{tag} {attribute}> Twilio defines "
                f"({kind.type_name}; e.g. {_examples(item, kind.values)})"
            )
        if kind.kind == "boolean" and item not in ("true", "false"):
            return f"{item!r} is not a <{tag} {attribute}>: must be true or false"
        if kind.kind == "number" and not _NUMBER.match(item):
            return f"{item!r} is not a <{tag} {attribute}>: must be a number"
    return None


def _attribute_types(tag: str, attribute: str) -> list[AttributeType]:
    specs = contract().by_tag(tag)
    if not specs:
        raise KeyError(f"<{tag}> is not an element of Twilio's Voice TwiML")
    kinds = [spec.attributes[attribute] for spec in specs if attribute in spec.attributes]
    if not kinds:
        raise KeyError(f"<{tag}> has no attribute {attribute!r} in Twilio's Voice TwiML")
    return kinds


def allowed_values(element: str, attribute: str) -> frozenset[str] | None:
    """The values Twilio defines for `<element attribute>`, None if not enumerated (KeyError)."""
    kinds = _attribute_types(element, attribute)
    if any(kind.kind != "enum" for kind in kinds):
        return None
    return frozenset().union(*(kind.values for kind in kinds))


def check_value(element: str, attribute: str, value: str) -> str | None:
    """Why `value` is not a valid `<element attribute>` (None when it is)."""
    try:
        kinds = _attribute_types(element, attribute)
    except KeyError as exc:
        return str(exc.args[0])
    problems = [_value_problem(element, attribute, kind, value) for kind in kinds]
    return None if None in problems else problems[0]


def _attribute_name(raw: str) -> str:
    # ElementTree spells SSML's `xml:lang` with the namespace it stands for.
    return "xml:" + raw.removeprefix(_XML_NS) if raw.startswith(_XML_NS) else raw


def _walk(node: ET.Element, spec: ElementSpec, path: str, officer_leg: bool) -> Iterator[str]:
    for raw, value in node.attrib.items():
        name = _attribute_name(raw)
        kind = spec.attributes.get(name)
        if kind is None:
            known = ", ".join(sorted(spec.attributes)) or "none"
            yield f"{path}: unknown attribute {name}={value!r} (<{spec.tag}> takes: {known})"
        elif problem := _value_problem(spec.tag, name, kind, value):
            yield f"{path}: {problem}"
    for child in node:
        if not isinstance(child.tag, str):  # a comment or processing instruction
            continue
        child_path = f"{path} > {child.tag}"
        if officer_leg and child.tag == OFFICER_LEG_FORBIDDEN:
            yield (
                f"{child_path}: TwiML on the officer's leg (run by <Number url>) is not allowed "
                f"to contain <{OFFICER_LEG_FORBIDDEN}> (twilio.com/docs/voice/twiml/number)"
            )
        child_class = spec.children.get(child.tag)
        if child_class is None:
            if contract().by_tag(child.tag):
                allowed = ", ".join(f"<{t}>" for t in sorted(spec.children)) or "no elements"
                yield f"{child_path}: not allowed in <{spec.tag}> (allowed: {allowed})"
            else:
                yield f"{child_path}: unknown element <{child.tag}>"
            continue
        yield from _walk(child, contract().elements[child_class], child_path, officer_leg)


def violations(document: str | bytes, *, officer_leg: bool = False) -> list[str]:
    """Every way `document` breaks Twilio's Voice TwiML contract (an empty list: none)."""
    try:
        # The app's own output, checked in tests and for configuration: not untrusted input.
        root = ET.fromstring(document)  # noqa: S314
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != ROOT_TAG:
        return [f"the root element is <{root.tag}>, not <{ROOT_TAG}>"]
    return list(_walk(root, contract().root, ROOT_TAG, officer_leg))
