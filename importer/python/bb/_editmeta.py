"""Editing variable assignments in metadata files (``bb.utils.edit_metadata``).

The callback receives each matching assignment (or function definition,
for names written with a trailing ``()``) and returns the new value, the
operator, the indentation for multi-line values and whether the first item
may stay on the assignment line; returning None as the value drops the
assignment.
"""

import fnmatch
import os
import re


def _matchers(variables, match_overrides):
    override = r"(_[a-zA-Z0-9-_$(){}]+)?" if match_overrides else ""
    matchers = {}
    for var in variables:
        if var.endswith("()"):
            matchers[var] = re.compile(r"^(%s%s)[ \t]*\([ \t]*\)[ \t]*{" % (var[:-2].rstrip(), override))
        else:
            matchers[var] = re.compile(r"^(%s%s)[ \t]*[?+:.]*=[+.]*[ \t]*([\"'])" % (var, override))
    return matchers


def _indent_text(indent, assignment):
    if isinstance(indent, int):
        return " " * (len(assignment) + 2 if indent == -1 else indent)
    return indent


def _render(name, assignment, value, indent, minbreak):
    """Lines for a replaced assignment or function."""
    pad = _indent_text(indent, assignment)
    if name.endswith("()"):
        if isinstance(value, list):
            return ["%s {\n%s%s\n}\n" % (assignment, pad, ("\n%s" % pad).join(value))]
        if not value.startswith("\n"):
            value = "\n" + value
        if not value.endswith("\n"):
            value += "\n"
        return ["%s {%s}\n" % (assignment, value)]
    if not isinstance(value, list):
        return ['%s "%s"\n' % (assignment, value)]
    if not value:
        return ['%s ""\n' % assignment]
    if minbreak:
        if len(value) == 1:
            return ['%s "%s"\n' % (assignment, value[0])]
        lines = ['%s "%s \\\n' % (assignment, value[0])]
        lines.extend("%s%s \\\n" % (pad, item) for item in value[1:])
    else:
        lines = ['%s " \\\n' % assignment]
        lines.extend("%s%s \\\n" % (pad, item) for item in value)
    lines.append('%s"\n' % pad)
    return lines


def edit_metadata(meta_lines, variables, varfunc, match_overrides=False):
    """Rewrite assignments of ``variables`` in ``meta_lines`` through ``varfunc``.

    ``varfunc(varname, origvalue, op, newlines)`` returns
    ``(newvalue, newop, indent, minbreak)``.  Returns ``(updated, newlines)``.
    """
    matchers = _matchers(variables, match_overrides)
    newlines = []
    updated = False
    squash_blank = False
    current = None  # name of the assignment being collected
    state = {}

    def finish():
        before = newlines[:]
        op = state["start"][len(current):].strip()
        value = state["value"]
        newvalue, newop, indent, minbreak = varfunc(current, value, op, newlines)
        touched = before != newlines
        if newvalue is None:
            return True
        if newvalue != value or newop not in (None, op):
            assignment = "%s %s" % (current, newop) if newop not in (None, op) else state["start"]
            newlines.extend(_render(current, assignment, newvalue, indent, minbreak))
            return True
        newlines.extend(state["lines"])
        return touched

    for line in meta_lines:
        if current:
            stripped = line.rstrip()
            state["lines"].append(line)
            if current.endswith("()"):
                state["value"] += "\n" + stripped
            else:
                state["value"] += stripped[:-1]
            if stripped.endswith(state["end"]):
                if current.endswith("()"):
                    if state["value"].count("{") - state["value"].count("}") >= 0:
                        continue
                    state["value"] = state["value"][:-1]
                if finish():
                    updated = True
                    squash_blank = True
                current = None
            continue
        for name, matcher in matchers.items():
            m = matcher.match(line)
            if not m:
                continue
            is_func = name.endswith("()")
            end = "}" if is_func else m.groups()[-1]
            head, rest = line.split("{" if is_func else end, 1)
            value = rest.rstrip()
            if not is_func and value.endswith("\\"):
                value = value[:-1]
            current = m.group(1) + ("()" if is_func else "")
            state = {"start": head.rstrip(), "value": value, "lines": [line], "end": end}
            if value.endswith(end):
                state["value"] = value[:-1]
                if finish():
                    updated = True
                    squash_blank = True
                current = None
            break
        else:
            if squash_blank:
                squash_blank = False
                if newlines and newlines[-1] == "\n" and line == "\n":
                    continue
            newlines.append(line)
    return updated, newlines


def edit_metadata_file(meta_file, variables, varfunc):
    """:func:`edit_metadata` on a file, written back only when something changed."""
    with open(meta_file, "r") as f:
        updated, newlines = edit_metadata(f, variables, varfunc)
    if updated:
        with open(meta_file, "w") as f:
            f.writelines(newlines)
    return updated


def edit_bblayers_conf(bblayers_conf, add, remove, edit_cb=None):
    """Add and/or remove layers in a ``bblayers.conf``.

    Returns ``(notadded, notremoved)``: layers that were already present and
    layers that were not found.
    """
    import bb.utils

    def strip_sep(path):
        return path[:-1] if path and path.endswith(os.sep) else path

    approved = bb.utils.approved_variables()

    def canonical(path):
        path = strip_sep(path)
        if "HOME" in approved and "~" in path:
            path = os.path.expanduser(path)
        return path

    def as_list(value):
        if not value:
            return []
        if isinstance(value, list):
            return [strip_sep(x) for x in value]
        return [strip_sep(value)]

    addlayers = as_list(add)
    removelayers = as_list(remove)
    operators = []
    existing = []
    removed = []

    def survey(varname, origvalue, op, newlines):
        operators.append(op)
        if op == "=":
            existing.clear()
        existing.extend(canonical(x) for x in origvalue.split())
        return origvalue, None, 2, False

    with open(bblayers_conf, "r") as f:
        _, newlines = edit_metadata(f, ["BBLAYERS"], survey)
    if not operators:
        raise Exception("Unable to find BBLAYERS in %s" % bblayers_conf)
    plusequals = operators.count("+=") > 1

    remove_canon = [canonical(x) for x in removelayers]
    notadded = [x for x in addlayers if canonical(x) in existing and canonical(x) not in remove_canon]
    notadded_canon = [canonical(x) for x in notadded]
    addlayers[:] = [x for x in addlayers if canonical(x) not in notadded_canon]

    def change(varname, origvalue, op, newlines):
        changed = False
        layers = [strip_sep(x) for x in origvalue.split()]
        for removelayer in removelayers:
            for layer in layers:
                if fnmatch.fnmatch(canonical(layer), canonical(removelayer)):
                    changed = True
                    layers.remove(layer)
                    removed.append(removelayer)
                    break
        if addlayers and not plusequals:
            for addlayer in addlayers:
                if addlayer not in layers:
                    changed = True
                    layers.append(addlayer)
            addlayers.clear()
        if edit_cb:
            edited = []
            for layer in layers:
                result = edit_cb(layer, canonical(layer))
                if result != layer:
                    changed = True
                edited.append(result)
            layers = edited
        if not changed:
            return origvalue, None, 2, False
        if op == "+=" and not layers:
            layers = None
        return layers, None, 2, False

    updated, newlines = edit_metadata(newlines, ["BBLAYERS"], change)
    for addlayer in addlayers:
        newlines.append('BBLAYERS += "%s"\n' % addlayer)
        updated = True
    if updated:
        with open(bblayers_conf, "w") as f:
            f.writelines(newlines)
    return notadded, list(set(removelayers) - set(removed))
