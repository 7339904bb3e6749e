"""Behaviour tests for rstore's ``bb`` package.

Every expected value below is what BitBake 2.19 itself returns for the same
call, so these tests pin the behaviour metadata relies on: version
comparison, dependency strings, variable tests, recipe file names, URL
parsing, inherited classes, filters, the fetcher's parse-time answers,
tasks, events and function execution.

Plain ``assert`` only.  Run the file directly (``python3
test_bb_compat.py``, with ``bb`` and ``_rstore`` importable) or call
:func:`run_all`, which returns ``(passed, failed, failures)``.
"""

import os
import shutil
import sys
import tempfile
import traceback

import bb
import bb.build
import bb.data
import bb.data_smart
import bb.event
import bb.fetch2
import bb.filter
import bb.parse
import bb.process
import bb.utils

CHECKS = 0


def check(actual, expected, what):
    """Assert ``actual == expected``, counting the check."""
    global CHECKS
    CHECKS += 1
    assert actual == expected, "%s: expected %r, got %r" % (what, expected, actual)


def new_datastore(**values):
    d = bb.data.init()
    for name, value in values.items():
        d.setVar(name, value)
    return d


# --- expected values (produced by BitBake 2.19) -------------------------

VERCMP_CASES = [('1.0', '1.0', 0),
 ('1.0', '1.1', -1),
 ('1.10', '1.9', 1),
 ('1.0', '1.0.1', -1),
 ('1.0a', '1.0', 1),
 ('1.0a', '1.0b', -1),
 ('1.0~rc1', '1.0', -1),
 ('1.0~rc1', '1.0~rc2', -1),
 ('1.0~', '1.0', -1),
 ('1.0', '1.0+git', -1),
 ('1.0+gitAUTOINC+abc', '1.0+gitAUTOINC+abd', -1),
 ('1.0+git0+1234567890', '1.0', 1),
 ('1:1.0', '2.0', 1),
 ('2:1.0', '1:9.9', 1),
 ('0:1.0', '1.0', 0),
 ('1.0-r0', '1.0-r1', -1),
 ('1.0-r10', '1.0-r9', 1),
 ('1.0-r0', '1.0', 1),
 ('1.0.0', '1.0', 1),
 ('2.39', '2.39+git', -1),
 ('3.1.2-r0', '3.1.2-r0.1', -1),
 ('1.2.3', '1.2.3-1', -1),
 ('5.15.0', '5.15', 1),
 ('1.0beta', '1.0', 1),
 ('1.0.beta', '1.0.1', 1),
 ('10', '9', 1),
 ('1.0-alpha', '1.0-beta', -1),
 ('0.9.8zh', '0.9.8zg', 1),
 ('1.1.1w', '3.0.0', -1),
 ('20230101', '20221231', 1),
 ('1_2', '1.2', 1),
 ('1.2', '1_2', -1),
 ('abc', 'abd', -1),
 ('', '1', -1),
 ('', '', 0),
 ('1.0', '1.0-', 0),
 ('6.6.21+git', '6.6.21', 1),
 ('2.0~rc1+git', '2.0~rc1', 1),
 ('>=1.0', '1.0', 0),
 ('1.0 ', ' 1.0', 0),
 ('3:1.0-r0', '3:1.0-r0', 0),
 ('1.01', '1.1', 0),
 ('1.001', '1.1', 0),
 ('1.0.0a', '1.0.0.1', -1),
 ('7.0p1', '7.0', 1),
 ('9.4p1', '9.4', 1),
 ('2.6.32.27', '2.6.32.3', 1),
 ('1.2.3+gitr1', '1.2.3+gitr10', -1),
 ('4.19.0~rc3', '4.19.0~rc3+1', -1)]

VERCMP_OP_CASES = [('1.0', '1.0', '=', True),
 ('1.0', '1.1', '<', True),
 ('1.1', '1.0', '>', True),
 ('1.0', '1.0', '>=', True),
 ('1.0', '1.1', '<=', True),
 ('1.0', '1.1', '!=', True),
 ('2.0', '1.0', '>>', True),
 ('1.0', '2.0', '<<', True),
 ('1.0', '1.0', '==', True),
 ('1.0', '1.0', '!=', False)]

SPLIT_VERSION_CASES = [('1.0', (0, '1.0', '')),
 ('1:1.0', (1, '1.0', '')),
 ('1.0-r0', (0, '1.0', 'r0')),
 ('2:1.0-r5', (2, '1.0', 'r5')),
 ('1.0-1-2', (0, '1.0-1', '2')),
 (' >= 1.0-r0', (0, '1.0', 'r0')),
 ('1:2:3-4', (1, '2', ''))]

DEP_VERSIONS2_CASES = [('a b c', [('a', []), ('b', []), ('c', [])]),
 ('a (>= 1.0) b', [('a', ['>= 1.0']), ('b', [])]),
 ('a (>= 1.0) b (< 2) c', [('a', ['>= 1.0']), ('b', ['< 2']), ('c', [])]),
 ('a(>=1.0)', [('a(>=1.0)', [])]),
 ('a (>=1.0)', [('a', ['>= 1.0'])]),
 ('a ( >= 1.0 )', [('a', ['>= 1.0'])]),
 ('b, a, c', [('a', []), ('b', []), ('c', [])]),
 ('a (= 1.0-r0) a (< 2.0)', [('a', ['= 1.0-r0', '< 2.0'])]),
 ('foo (>= 1.0 beta)', [('foo', ['>= 1.0', '>= 1.0 beta'])]),
 ('a (<< 2) b (>> 1) c (=< 3) d (=> 4) e (== 5) f (!= 6)',
  [('a', ['<< 2']), ('b', ['>> 1']), ('c', ['=< 3']), ('d', ['=> 4']), ('e', ['== 5']), ('f', ['!= 6'])]),
 ('python3-core (>= 3.11) python3-json', [('python3-core', ['>= 3.11']), ('python3-json', [])]),
 ('z y x', [('x', []), ('y', []), ('z', [])]),
 ('a a b', [('a', []), ('b', [])]),
 ('', []),
 ('libc6 (>= 2.35), libgcc1', [('libc6', ['>= 2.35']), ('libgcc1', [])])]

DEP_VERSIONS2_UNSORTED_CASES = [('a b c', [('a', []), ('b', []), ('c', [])]),
 ('a (>= 1.0) b', [('a', ['>= 1.0']), ('b', [])]),
 ('a (>= 1.0) b (< 2) c', [('a', ['>= 1.0']), ('b', ['< 2']), ('c', [])]),
 ('a(>=1.0)', [('a(>=1.0)', [])]),
 ('a (>=1.0)', [('a', ['>= 1.0'])]),
 ('a ( >= 1.0 )', [('a', ['>= 1.0'])]),
 ('b, a, c', [('b', []), ('a', []), ('c', [])]),
 ('a (= 1.0-r0) a (< 2.0)', [('a', ['= 1.0-r0', '< 2.0'])]),
 ('foo (>= 1.0 beta)', [('foo', ['>= 1.0', '>= 1.0 beta'])]),
 ('a (<< 2) b (>> 1) c (=< 3) d (=> 4) e (== 5) f (!= 6)',
  [('a', ['<< 2']), ('b', ['>> 1']), ('c', ['=< 3']), ('d', ['=> 4']), ('e', ['== 5']), ('f', ['!= 6'])]),
 ('python3-core (>= 3.11) python3-json', [('python3-core', ['>= 3.11']), ('python3-json', [])]),
 ('z y x', [('z', []), ('y', []), ('x', [])]),
 ('a a b', [('a', []), ('b', [])]),
 ('', []),
 ('libc6 (>= 2.35), libgcc1', [('libc6', ['>= 2.35']), ('libgcc1', [])])]

DEP_VERSIONS_CASES = [('a b c', [('a', None), ('b', None), ('c', None)]),
 ('a (>= 1.0) b', [('a', '>= 1.0'), ('b', None)]),
 ('a (>= 1.0) b (< 2) c', [('a', '>= 1.0'), ('b', '< 2'), ('c', None)]),
 ('a(>=1.0)', [('a(>=1.0)', None)]),
 ('a (>=1.0)', [('a', '>= 1.0')]),
 ('a ( >= 1.0 )', [('a', '>= 1.0')]),
 ('b, a, c', [('a', None), ('b', None), ('c', None)]),
 ('foo (>= 1.0 beta)', [('foo', '>= 1.0')]),
 ('a (<< 2) b (>> 1) c (=< 3) d (=> 4) e (== 5) f (!= 6)',
  [('a', '<< 2'), ('b', '>> 1'), ('c', '=< 3'), ('d', '=> 4'), ('e', '== 5'), ('f', '!= 6')]),
 ('python3-core (>= 3.11) python3-json', [('python3-core', '>= 3.11'), ('python3-json', None)]),
 ('z y x', [('x', None), ('y', None), ('z', None)]),
 ('a a b', [('a', None), ('b', None)]),
 ('', []),
 ('libc6 (>= 2.35), libgcc1', [('libc6', '>= 2.35'), ('libgcc1', None)])]

EXPLODE_DEPS_CASES = [('a b c', ['a', 'b', 'c']),
 ('a (>= 1.0) b', ['a', 'b']),
 ('a (>= 1.0) b (< 2) c', ['a', 'b', 'c']),
 ('a(>=1.0)', ['a(>=1.0)']),
 ('a (>=1.0)', ['a']),
 ('a ( >= 1.0 )', ['a']),
 ('b, a, c', ['b,', 'a,', 'c']),
 ('a (= 1.0-r0) a (< 2.0)', ['a', 'a']),
 ('foo (>= 1.0 beta)', ['foo']),
 ('a (<< 2) b (>> 1) c (=< 3) d (=> 4) e (== 5) f (!= 6)', ['a', 'b', 'c', 'd', 'e', 'f']),
 ('python3-core (>= 3.11) python3-json', ['python3-core', 'python3-json']),
 ('z y x', ['z', 'y', 'x']),
 ('a a b', ['a', 'a', 'b']),
 ('', []),
 ('libc6 (>= 2.35), libgcc1', ['libc6']),
 ('a (>= 1 ) b', ['a', 'b']),
 ('(x) y', ['y'])]

JOIN_DEPS_CASES = [('a b c', 'a, b, c', 'a b c'),
 ('a (>= 1.0) b', 'a (>= 1.0), b', 'a (>= 1.0) b'),
 ('a (>= 1.0) b (< 2) c', 'a (>= 1.0), b (< 2), c', 'a (>= 1.0) b (< 2) c'),
 ('a(>=1.0)', 'a(>=1.0)', 'a(>=1.0)'),
 ('a (>=1.0)', 'a (>= 1.0)', 'a (>= 1.0)'),
 ('a ( >= 1.0 )', 'a (>= 1.0)', 'a (>= 1.0)'),
 ('b, a, c', 'a, b, c', 'a b c'),
 ('a (= 1.0-r0) a (< 2.0)', 'a (= 1.0-r0), a (< 2.0)', 'a (= 1.0-r0) a (< 2.0)'),
 ('foo (>= 1.0 beta)', 'foo (>= 1.0), foo (>= 1.0 beta)', 'foo (>= 1.0) foo (>= 1.0 beta)'),
 ('a (<< 2) b (>> 1) c (=< 3) d (=> 4) e (== 5) f (!= 6)',
  'a (<< 2), b (>> 1), c (=< 3), d (=> 4), e (== 5), f (!= 6)',
  'a (<< 2) b (>> 1) c (=< 3) d (=> 4) e (== 5) f (!= 6)'),
 ('python3-core (>= 3.11) python3-json',
  'python3-core (>= 3.11), python3-json',
  'python3-core (>= 3.11) python3-json'),
 ('z y x', 'x, y, z', 'x y z'),
 ('a a b', 'a, b', 'a b'),
 ('', '', ''),
 ('libc6 (>= 2.35), libgcc1', 'libc6 (>= 2.35), libgcc1', 'libc6 (>= 2.35) libgcc1')]

BAD_DEP_CASES = [('a (1.0)', 'Invalid version specification in "(1.0)" - invalid or missing operator'),
 ('a (~ 1.0)', 'Invalid version specification in "(~" - invalid or missing operator'),
 ('a ( )', 'Invalid version specification in "()" - invalid or missing operator')]

TO_BOOLEAN_CASES = [('y', True, True),
 ('Yes', True, True),
 ('1', True, True),
 ('TRUE', True, True),
 ('n', False, False),
 ('No', False, False),
 ('0', False, False),
 ('false', False, False),
 ('', None, 'dflt'),
 (None, None, 'dflt'),
 (0, None, 'dflt'),
 (1, True, True),
 (5, True, True),
 (True, True, True),
 (False, None, 'dflt')]

TO_BOOLEAN_ERRORS = [('maybe', 'Invalid value for to_boolean: maybe'),
 ('2', 'Invalid value for to_boolean: 2'),
 ('on', 'Invalid value for to_boolean: on'),
 ('yess', 'Invalid value for to_boolean: yess')]

SEMVER_CASES = [('1.0.0', True),
 ('1.0', False),
 ('1.0.0-alpha', True),
 ('1.0.0-alpha.1', True),
 ('1.0.0+build.1', True),
 ('01.0.0', False),
 ('1.0.0-01', False),
 ('1.0.0-0A', True),
 ('v1.0.0', False),
 ('1.2.3-rc.1+sha.5114f85', True)]

VARS_FROM_FILE_CASES = [('/x/busybox_1.36.1.bb', ('busybox', '1.36.1', None)),
 ('/x/foo.bb', ('foo', None, None)),
 ('/x/foo_1.0_r1.bb', ('foo', '1.0', 'r1')),
 ('/x/foo_git.bbappend', ('foo', 'git', None)),
 ('/x/foo_%.bbappend', ('foo', '%', None)),
 ('/x/foo.bbclass', (None, None, None)),
 ('/x/foo.conf', (None, None, None)),
 ('', (None, None, None)),
 ('foo_1.0.bb', ('foo', '1.0', None)),
 ('/a_b/c-d_2.0.bb', ('c-d', '2.0', None)),
 ('/x/foo_1.0.inc', (None, None, None))]

DECODEURL_CASES = [('http://example.com/foo.tar.gz',
  ('http', 'example.com', '/foo.tar.gz', '', '', []),
  'http://example.com/foo.tar.gz',
  ('http', 'example.com', '/foo.tar.gz', '', '', [])),
 ('https://user:pass@example.com:8080/a/b%20c.tar.xz;name=x;subdir=y',
  ('https', 'example.com:8080', '/a/b c.tar.xz', 'user', 'pass', [('name', 'x'), ('subdir', 'y')]),
  'https://user:pass@example.com:8080/a/b%20c.tar.xz;name=x;subdir=y',
  ('https', 'example.com:8080', '/a/b c.tar.xz', 'user', 'pass', [('name', 'x'), ('subdir', 'y')])),
 ('git://git.example.com/repo.git;protocol=https;branch=main',
  ('git', 'git.example.com', '/repo.git', '', '', [('protocol', 'https'), ('branch', 'main')]),
  'git://git.example.com/repo.git;protocol=https;branch=main',
  ('git', 'git.example.com', '/repo.git', '', '', [('protocol', 'https'), ('branch', 'main')])),
 ('file://foo.patch',
  ('file', '', 'foo.patch', '', '', []),
  'file://foo.patch',
  ('file', '', 'foo.patch', '', '', [])),
 ('file:///abs/path/foo.patch;striplevel=2',
  ('file', '', '/abs/path/foo.patch', '', '', [('striplevel', '2')]),
  'file:///abs/path/foo.patch;striplevel=2',
  ('file', '', '/abs/path/foo.patch', '', '', [('striplevel', '2')])),
 ('file://dir/sub/file.c;subdir=src',
  ('file', '', 'dir/sub/file.c', '', '', [('subdir', 'src')]),
  'file://dir/sub/file.c;subdir=src',
  ('file', '', 'dir/sub/file.c', '', '', [('subdir', 'src')])),
 ('git:relative/path.git',
  ('git', '', 'relative/path.git', '', '', []),
  'git:relative/path.git',
  ('git', '', 'relative/path.git', '', '', [])),
 ('ftp://ftp.gnu.org/gnu/tar/tar-1.35.tar.xz',
  ('ftp', 'ftp.gnu.org', '/gnu/tar/tar-1.35.tar.xz', '', '', []),
  'ftp://ftp.gnu.org/gnu/tar/tar-1.35.tar.xz',
  ('ftp', 'ftp.gnu.org', '/gnu/tar/tar-1.35.tar.xz', '', '', [])),
 ('https://example.com/dl?file=a.tgz;downloadfilename=a.tgz',
  ('https', 'example.com', '/dl', '', '', [('downloadfilename', 'a.tgz')]),
  'https://example.com/dl;downloadfilename=a.tgz',
  ('https', 'example.com', '/dl', '', '', [('downloadfilename', 'a.tgz')])),
 ('crate://crates.io/libc/0.2.150',
  ('crate', 'crates.io', '/libc/0.2.150', '', '', []),
  'crate://crates.io/libc/0.2.150',
  ('crate', 'crates.io', '/libc/0.2.150', '', '', [])),
 ('gomod://golang.org/x/net;version=v0.9.0',
  ('gomod', 'golang.org', '/x/net', '', '', [('version', 'v0.9.0')]),
  'gomod://golang.org/x/net;version=v0.9.0',
  ('gomod', 'golang.org', '/x/net', '', '', [('version', 'v0.9.0')])),
 ('svn://svn.example.com/repo;module=trunk;protocol=http',
  ('svn', 'svn.example.com', '/repo', '', '', [('module', 'trunk'), ('protocol', 'http')]),
  'svn://svn.example.com/repo;module=trunk;protocol=http',
  ('svn', 'svn.example.com', '/repo', '', '', [('module', 'trunk'), ('protocol', 'http')])),
 ('npm://registry.npmjs.org;package=foo;version=1.0',
  ('npm', 'registry.npmjs.org', '/', '', '', [('package', 'foo'), ('version', '1.0')]),
  'npm://registry.npmjs.org/;package=foo;version=1.0',
  ('npm', 'registry.npmjs.org', '/', '', '', [('package', 'foo'), ('version', '1.0')])),
 ('s3://bucket/path/file.tgz',
  ('s3', 'bucket', '/path/file.tgz', '', '', []),
  's3://bucket/path/file.tgz',
  ('s3', 'bucket', '/path/file.tgz', '', '', [])),
 ('http://EXAMPLE.com/Foo.tgz',
  ('http', 'example.com', '/Foo.tgz', '', '', []),
  'http://example.com/Foo.tgz',
  ('http', 'example.com', '/Foo.tgz', '', '', [])),
 ('git://github.com/foo/bar;branch=master;protocol=https;destsuffix=git/',
  ('git',
   'github.com',
   '/foo/bar',
   '',
   '',
   [('branch', 'master'), ('protocol', 'https'), ('destsuffix', 'git/')]),
  'git://github.com/foo/bar;branch=master;protocol=https;destsuffix=git/',
  ('git',
   'github.com',
   '/foo/bar',
   '',
   '',
   [('branch', 'master'), ('protocol', 'https'), ('destsuffix', 'git/')])),
 ('https://[::1]:443/x', ('https', '::1:443', '/x', '', '', []), None, 'ValueError'),
 ('file://a;b=c;d=',
  ('file', '', 'a', '', '', [('b', 'c'), ('d', '')]),
  'file://a;b=c;d=',
  ('file', '', 'a', '', '', [('b', 'c'), ('d', '')])),
 ('http://host/path#frag',
  ('http', 'host', '/path', '', '', []),
  'http://host/path',
  ('http', 'host', '/path', '', '', [])),
 ('git://host/a//b',
  ('git', 'host', '/a//b', '', '', []),
  'git://host/a/b',
  ('git', 'host', '/a/b', '', '', [])),
 ('http://host', ('http', 'host', '/', '', '', []), 'http://host/', ('http', 'host', '/', '', '', [])),
 ('gitsm://host/r.git;branch=b;nobranch=1',
  ('gitsm', 'host', '/r.git', '', '', [('branch', 'b'), ('nobranch', '1')]),
  'gitsm://host/r.git;branch=b;nobranch=1',
  ('gitsm', 'host', '/r.git', '', '', [('branch', 'b'), ('nobranch', '1')]))]

URI_CASES = [('http://example.com/foo.tar.gz',
  ('http', '', '', '', 'example.com', None, 'example.com', '/foo.tar.gz', '/foo.tar.gz', {}, {}, False),
  'http://example.com/foo.tar.gz'),
 ('https://user:pass@example.com:8080/a/b%20c.tar.xz;name=x;subdir=y',
  ('https',
   'user:pass',
   'user',
   'pass',
   'example.com',
   8080,
   'example.com:8080',
   '/a/b c.tar.xz',
   '/a/b%20c.tar.xz',
   {'name': 'x', 'subdir': 'y'},
   {},
   False),
  'https://user:pass@example.com:8080/a/b%20c.tar.xz;name=x;subdir=y'),
 ('git://git.example.com/repo.git;protocol=https;branch=main',
  ('git',
   '',
   '',
   '',
   'git.example.com',
   None,
   'git.example.com',
   '/repo.git',
   '/repo.git',
   {'protocol': 'https', 'branch': 'main'},
   {},
   False),
  'git://git.example.com/repo.git;protocol=https;branch=main'),
 ('file://foo.patch',
  ('file', '', '', '', '', None, '', 'foo.patch', 'foo.patch', {}, {}, True),
  'file:foo.patch'),
 ('file:///abs/path/foo.patch;striplevel=2',
  ('file',
   '',
   '',
   '',
   '',
   None,
   '',
   '/abs/path/foo.patch',
   '/abs/path/foo.patch',
   {'striplevel': '2'},
   {},
   False),
  'file:///abs/path/foo.patch;striplevel=2'),
 ('file://dir/sub/file.c;subdir=src',
  ('file', '', '', '', '', None, '', 'dir/sub/file.c', 'dir/sub/file.c', {'subdir': 'src'}, {}, True),
  'file:dir/sub/file.c;subdir=src'),
 ('git:relative/path.git',
  ('git', '', '', '', '', None, '', 'relative/path.git', 'relative/path.git', {}, {}, True),
  'git:relative/path.git'),
 ('ftp://ftp.gnu.org/gnu/tar/tar-1.35.tar.xz',
  ('ftp',
   '',
   '',
   '',
   'ftp.gnu.org',
   None,
   'ftp.gnu.org',
   '/gnu/tar/tar-1.35.tar.xz',
   '/gnu/tar/tar-1.35.tar.xz',
   {},
   {},
   False),
  'ftp://ftp.gnu.org/gnu/tar/tar-1.35.tar.xz'),
 ('https://example.com/dl?file=a.tgz;downloadfilename=a.tgz',
  ('https',
   '',
   '',
   '',
   'example.com',
   None,
   'example.com',
   '/dl',
   '/dl',
   {'downloadfilename': 'a.tgz'},
   {'file': 'a.tgz'},
   False),
  'https://example.com/dl?file=a.tgz;downloadfilename=a.tgz'),
 ('crate://crates.io/libc/0.2.150',
  ('crate', '', '', '', 'crates.io', None, 'crates.io', '/libc/0.2.150', '/libc/0.2.150', {}, {}, False),
  'crate://crates.io/libc/0.2.150'),
 ('gomod://golang.org/x/net;version=v0.9.0',
  ('gomod',
   '',
   '',
   '',
   'golang.org',
   None,
   'golang.org',
   '/x/net',
   '/x/net',
   {'version': 'v0.9.0'},
   {},
   False),
  'gomod://golang.org/x/net;version=v0.9.0'),
 ('svn://svn.example.com/repo;module=trunk;protocol=http',
  ('svn',
   '',
   '',
   '',
   'svn.example.com',
   None,
   'svn.example.com',
   '/repo',
   '/repo',
   {'module': 'trunk', 'protocol': 'http'},
   {},
   False),
  'svn://svn.example.com/repo;module=trunk;protocol=http'),
 ('npm://registry.npmjs.org;package=foo;version=1.0',
  ('npm',
   '',
   '',
   '',
   'registry.npmjs.org',
   None,
   'registry.npmjs.org',
   '',
   '',
   {'package': 'foo', 'version': '1.0'},
   {},
   False),
  'npm://registry.npmjs.org;package=foo;version=1.0'),
 ('s3://bucket/path/file.tgz',
  ('s3', '', '', '', 'bucket', None, 'bucket', '/path/file.tgz', '/path/file.tgz', {}, {}, False),
  's3://bucket/path/file.tgz'),
 ('http://EXAMPLE.com/Foo.tgz',
  ('http', '', '', '', 'example.com', None, 'example.com', '/Foo.tgz', '/Foo.tgz', {}, {}, False),
  'http://example.com/Foo.tgz'),
 ('git://github.com/foo/bar;branch=master;protocol=https;destsuffix=git/',
  ('git',
   '',
   '',
   '',
   'github.com',
   None,
   'github.com',
   '/foo/bar',
   '/foo/bar',
   {'branch': 'master', 'protocol': 'https', 'destsuffix': 'git/'},
   {},
   False),
  'git://github.com/foo/bar;branch=master;protocol=https;destsuffix=git/'),
 ('https://[::1]:443/x',
  ('https', '', '', '', '::1', 443, '::1:443', '/x', '/x', {}, {}, False),
  'https://::1:443/x'),
 ('file://a;b=c;d=',
  ('file', '', '', '', '', None, '', 'a', 'a', {'b': 'c', 'd': ''}, {}, True),
  'file:a;b=c;d='),
 ('http://host/path#frag',
  ('http', '', '', '', 'host', None, 'host', '/path', '/path', {}, {}, False),
  'http://host/path'),
 ('git://host/a//b',
  ('git', '', '', '', 'host', None, 'host', '/a//b', '/a//b', {}, {}, False),
  'git://host/a//b'),
 ('http://host', ('http', '', '', '', 'host', None, 'host', '', '', {}, {}, False), 'http://host'),
 ('gitsm://host/r.git;branch=b;nobranch=1',
  ('gitsm',
   '',
   '',
   '',
   'host',
   None,
   'host',
   '/r.git',
   '/r.git',
   {'branch': 'b', 'nobranch': '1'},
   {},
   False),
  'gitsm://host/r.git;branch=b;nobranch=1'),
 ('file:relative/x.diff',
  ('file', '', '', '', '', None, '', 'relative/x.diff', 'relative/x.diff', {}, {}, True),
  'file:relative/x.diff'),
 ('git:///abs/repo.git',
  ('git', '', '', '', '', None, '', '/abs/repo.git', '/abs/repo.git', {}, {}, False),
  'git:///abs/repo.git'),
 ('http://u@h/p?q=1&r=2;a=b',
  ('http', 'u', 'u', '', 'h', None, 'h', '/p', '/p', {'a': 'b'}, {'q': '1', 'r': '2'}, False),
  'http://u@h/p?q=1&r=2;a=b'),
 ('http://h:81/p', ('http', '', '', '', 'h', 81, 'h:81', '/p', '/p', {}, {}, False), 'http://h:81/p')]

ENCODEURL_CASES = [(('file', '', 'foo.patch', '', '', {}), 'file://foo.patch'),
 (('http', 'h', '/a//b', 'u', 'p', {'x': '1'}), 'http://u:p@h/a/b;x=1'),
 (('git', 'h', '/r.git', '', '', {'branch': 'm', 'protocol': 'https'}),
  'git://h/r.git;branch=m;protocol=https'),
 (('file', 'host', '/abs//path', 'user', '', {}), 'file:///abs/path'),
 (('https', 'h:8080', '/p', '', '', None), 'https://h:8080/p')]

FILTER_CASES = [('a b c', ["suffix(val, '-dev')"], 'a-dev b-dev c-dev'),
 ('a b c', ["prefix(val, 'lib')"], 'liba libb libc'),
 ('c b a', ['sort(val)'], 'a b c'),
 ('a b c', ["remove(val, 'b')"], 'a c'),
 ('a:b:c', ["remove(val, ['b'], ':')"], 'a:c'),
 ('a b', ["suffix(val, '-x')", 'sort(val)'], 'a-x b-x'),
 ('x', ['  ', "val + 'y'"], 'xy'),
 ('a (>= 1) b', ['bb.utils.explode_deps(val)'], ['a', 'b']),
 ('3', ['str(int(val) * 2)'], '6'),
 ('a b c', ['len(val.split())'], 3)]

INHERITS_CASES = [('base', True),
 ('autotools', True),
 ('insane', True),
 ('foo-bar', True),
 ('native', True),
 ('nativesdk', False),
 ('auto', False),
 ('classes', False),
 ('bar', False)]

CONTAINS_CASES = [('x11', 'T', 'T', 'x11'),
 ('x11 opengl', 'T', 'T', 'opengl x11'),
 (['x11', 'wayland'], 'T', 'T', 'wayland x11'),
 ('vulkan', 'F', 'F', ''),
 ('x11 vulkan', 'F', 'T', 'x11'),
 ('', 'T', 'F', ''),
 ([], 'T', 'F', '')]



# --- version comparison ------------------------------------------------

def test_vercmp_string():
    for a, b, expected in VERCMP_CASES:
        check(bb.utils.vercmp_string(a, b), expected, "vercmp_string(%r, %r)" % (a, b))
        if expected in (-1, 0, 1):
            check(bb.utils.vercmp_string(b, a), -expected, "vercmp_string(%r, %r)" % (b, a))


def test_vercmp_string_op():
    for a, b, op, expected in VERCMP_OP_CASES:
        check(bb.utils.vercmp_string_op(a, b, op), expected, "vercmp_string_op(%r, %r, %r)" % (a, b, op))
    try:
        bb.utils.vercmp_string_op("1", "2", "~=")
    except bb.utils.VersionStringException as exc:
        check(str(exc), 'Unsupported comparison operator "~="', "bad operator message")
    else:
        raise AssertionError("an unknown operator must raise VersionStringException")


def test_split_version_and_vercmp_parts():
    for s, expected in SPLIT_VERSION_CASES:
        check(bb.utils.split_version(s), expected, "split_version(%r)" % s)
    check(bb.utils.vercmp((1, "1.0", "r0"), (0, "9.9", "r9")), 1, "epoch wins")
    check(bb.utils.vercmp((3, "1.0", ""), (1, "1.0", "")), 2, "epoch difference is returned")
    check(bb.utils.vercmp_part("1.0~rc1", "1.0"), -1, "tilde sorts first")
    check(bb.utils.explode_version("1.2a~b+c"),
          [(0, 1), (2, "."), (0, 2), (1, "a"), (-1, "~"), (1, "b"), (2, "+"), (1, "c")], "explode_version")


def test_is_semver():
    for version, expected in SEMVER_CASES:
        check(bb.utils.is_semver(version), expected, "is_semver(%r)" % version)


# --- dependency strings ----------------------------------------------------

def test_explode_dep_versions2():
    for s, expected in DEP_VERSIONS2_CASES:
        check(list(bb.utils.explode_dep_versions2(s).items()), expected, "explode_dep_versions2(%r)" % s)
    for s, expected in DEP_VERSIONS2_UNSORTED_CASES:
        check(list(bb.utils.explode_dep_versions2(s, sort=False).items()), expected,
              "explode_dep_versions2(%r, sort=False)" % s)


def test_explode_dep_versions2_rejects_bad_operators():
    for s, message in BAD_DEP_CASES:
        try:
            bb.utils.explode_dep_versions2(s)
        except bb.utils.VersionStringException as exc:
            check(str(exc), message, "error for %r" % s)
        else:
            raise AssertionError("explode_dep_versions2(%r) must raise" % s)


def test_explode_dep_versions():
    for s, expected in DEP_VERSIONS_CASES:
        check(list(bb.utils.explode_dep_versions(s).items()), expected, "explode_dep_versions(%r)" % s)


def test_explode_deps():
    for s, expected in EXPLODE_DEPS_CASES:
        check(bb.utils.explode_deps(s), expected, "explode_deps(%r)" % s)


def test_join_deps():
    for s, commas, spaces in JOIN_DEPS_CASES:
        deps = bb.utils.explode_dep_versions2(s)
        check(bb.utils.join_deps(deps), commas, "join_deps(%r)" % s)
        check(bb.utils.join_deps(deps, commasep=False), spaces, "join_deps(%r, commasep=False)" % s)
        if not any(" " in c.split(" ", 1)[1] for cs in deps.values() for c in cs):
            check(bb.utils.explode_dep_versions2(bb.utils.join_deps(deps)), deps, "round trip of %r" % s)


# --- variable tests --------------------------------------------------------

def test_contains_contains_any_filter():
    d = new_datastore(DISTRO_FEATURES="x11 wayland  opengl")
    for values, contains, contains_any, filtered in CONTAINS_CASES:
        check(bb.utils.contains("DISTRO_FEATURES", values, "T", "F", d), contains, "contains %r" % (values,))
        check(bb.utils.contains_any("DISTRO_FEATURES", values, "T", "F", d), contains_any,
              "contains_any %r" % (values,))
        check(bb.utils.filter("DISTRO_FEATURES", values, d), filtered, "filter %r" % (values,))
    check(bb.utils.contains("UNSET_VARIABLE", "x", "T", "F", d), "F", "contains on an unset variable")
    check(bb.utils.contains_any("UNSET_VARIABLE", "x", "T", "F", d), "F", "contains_any on an unset variable")
    check(bb.utils.filter("UNSET_VARIABLE", "x", d), "", "filter on an unset variable")
    check(bb.utils.filter_string("c b a", "a c z"), "a c", "filter_string sorts")
    d.setVar("FEATURES_REF", "${DISTRO_FEATURES} extra")
    check(bb.utils.contains("FEATURES_REF", "extra wayland", "T", "F", d), "T", "contains expands the variable")


def test_to_boolean():
    for value, plain, with_default in TO_BOOLEAN_CASES:
        check(bb.utils.to_boolean(value), plain, "to_boolean(%r)" % (value,))
        check(bb.utils.to_boolean(value, "dflt"), with_default, "to_boolean(%r, 'dflt')" % (value,))
    for value, message in TO_BOOLEAN_ERRORS:
        try:
            bb.utils.to_boolean(value)
        except ValueError as exc:
            check(str(exc), message, "to_boolean(%r) error" % value)
        else:
            raise AssertionError("to_boolean(%r) must raise ValueError" % value)


# --- recipe file names ---------------------------------------------------

def test_vars_from_file():
    for name, expected in VARS_FROM_FILE_CASES:
        check(tuple(bb.parse.vars_from_file(name, None)), expected, "vars_from_file(%r)" % name)
    try:
        bb.parse.vars_from_file("/x/a_b_c_d.bb", None)
    except bb.parse.ParseError as exc:
        check(str(exc), "ParseError in /x/a_b_c_d.bb: Unable to generate default variables from filename "
                        "(too many underscores)", "too many underscores")
        check(exc.filename, "/x/a_b_c_d.bb", "ParseError.filename")
    else:
        raise AssertionError("three underscores must raise ParseError")


# --- URLs ----------------------------------------------------------------

def _decoded(t):
    return tuple(t[:5]) + (list(t[5].items()),)


def test_decodeurl_encodeurl_round_trip():
    for url, decoded, encoded, redecoded in DECODEURL_CASES:
        result = bb.fetch2.decodeurl(url)
        check(_decoded(result), decoded, "decodeurl(%r)" % url)
        if encoded is None:
            try:
                bb.fetch2.decodeurl(bb.fetch2.encodeurl(result))
            except Exception as exc:
                check(type(exc).__name__, redecoded, "round trip of %r fails" % url)
            else:
                raise AssertionError("round trip of %r must fail" % url)
            continue
        check(bb.fetch2.encodeurl(result), encoded, "encodeurl(decodeurl(%r))" % url)
        check(_decoded(bb.fetch2.decodeurl(encoded)), redecoded, "decodeurl(%r)" % encoded)


def test_encodeurl():
    for decoded, expected in ENCODEURL_CASES:
        check(bb.fetch2.encodeurl(decoded), expected, "encodeurl(%r)" % (decoded,))
    try:
        bb.fetch2.encodeurl(("", "h", "/p", "", "", {}))
    except bb.fetch2.MissingParameterError as exc:
        check(str(exc), "URL: 'encoded from the data ('', 'h', '/p', '', '', {})' is missing the required "
                        "parameter 'type'", "encodeurl without a type")
    else:
        raise AssertionError("encodeurl without a type must raise MissingParameterError")


def test_uri_parsing():
    for url, fields, text in URI_CASES:
        uri = bb.fetch2.URI(url)
        actual = (uri.scheme, uri.userinfo, uri.username, uri.password, uri.hostname, uri.port, uri.hostport,
                  uri.path, uri.path_quoted, dict(uri.params), dict(uri.query), uri.relative)
        check(actual, fields, "URI(%r) fields" % url)
        try:
            rendered = str(uri)
        except Exception as exc:
            rendered = type(exc).__name__
        check(rendered, text, "str(URI(%r))" % url)
    uri = bb.fetch2.URI()
    uri.scheme = "https"
    uri.hostname = "example.com"
    uri.path = "/a b"
    uri.username = "me"
    uri.password = "secret"
    uri.params = {"name": "x"}
    check(str(uri), "https://me:secret@example.com/a%20b;name=x", "URI built field by field")


# --- classes and filters -----------------------------------------------------

def test_inherits_class():
    d = new_datastore()
    d.setVar("__inherit_cache", ["/l/meta/classes/base.bbclass", "/l/meta/classes-recipe/autotools.bbclass",
                                 "/l/meta/classes-global/insane.bbclass", "/x/classes/foo-bar.bbclass",
                                 "/x/classes/native.bbclass"])
    for name, expected in INHERITS_CASES:
        check(bb.data.inherits_class(name, d), expected, "inherits_class(%r)" % name)
    check(bb.data.inherits_class("base", new_datastore()), False, "nothing inherited")


def test_persist_data():
    """bb.persist_data (BitBake up to 2.10; migrate_localcount reads it at parse time)."""
    tmp = tempfile.mkdtemp()
    try:
        d = new_datastore(PERSISTENT_DIR=os.path.join(tmp, "persistent"))
        table = bb.persist_data.persist("BB_URI_LOCALCOUNT", d)
        table["git://x-zlib_rev"] = "abc"
        table["git://x-zlib_count"] = "3"
        table["git://x-zlib_count"] = "4"
        check(sorted(table.get_by_pattern("%-zlib_count")), ["4"], "get_by_pattern")
        check(len(table), 2, "two keys, the second replaced")
        check("git://x-zlib_rev" in table, True, "contains")
        # Another handle on the same domain sees the same data, on disk.
        again = bb.persist_data.persist("BB_URI_LOCALCOUNT", d)
        check(dict(again.items()), {"git://x-zlib_rev": "abc", "git://x-zlib_count": "4"}, "persisted")
        check(os.path.isfile(os.path.join(tmp, "persistent", "bb_persist_data.sqlite3")), True, "file")
        del again["git://x-zlib_rev"]
        check(list(table), ["git://x-zlib_count"], "deleted")
        for bad in ["x; DROP TABLE y", "1abc", ""]:
            try:
                bb.persist_data.persist(bad, d)
            except ValueError:
                pass
            else:
                raise AssertionError("domain %r accepted" % bad)
        try:
            table["k"] = 1
        except TypeError:
            pass
        else:
            raise AssertionError("a non-string value was stored")
    finally:
        shutil.rmtree(tmp)


def test_apply_filters():
    for value, expressions, expected in FILTER_CASES:
        check(bb.filter.apply_filters(value, expressions), expected, "apply_filters(%r, %r)" % (value, expressions))
    try:
        bb.filter.apply_filters("x", ["open('/etc/passwd')"])
    except NameError:
        pass
    else:
        raise AssertionError("filters must not see Python builtins that are not registered")


# --- fetcher at parse time --------------------------------------------------

def _fetch_datastore(tmp):
    os.makedirs(os.path.join(tmp, "files", "machine"))
    with open(os.path.join(tmp, "files", "fix.patch"), "w") as f:
        f.write("patch\n")
    with open(os.path.join(tmp, "files", "machine", "defconfig"), "w") as f:
        f.write("CONFIG_X=y\n")
    with open(os.path.join(tmp, "files", "defconfig"), "w") as f:
        f.write("CONFIG_X=n\n")
    return new_datastore(DL_DIR=tmp + "/downloads", PN="demo", PV="1.0", FILE=tmp + "/demo_1.0.bb",
                         FILESPATH="%s/files/machine:%s/files" % (tmp, tmp), T=tmp + "/temp")


def test_fetch_local_files_and_checksums():
    tmp = tempfile.mkdtemp()
    try:
        d = _fetch_datastore(tmp)
        d.setVar("SRC_URI", "file://fix.patch file://defconfig https://example.com/demo-1.0.tar.gz;name=src")
        d.setVarFlag("SRC_URI", "src.sha256sum", "ab" * 32)
        fetcher = bb.fetch2.Fetch([], d)
        check(fetcher.localpaths(), [tmp + "/files/fix.patch", tmp + "/files/machine/defconfig",
                                     tmp + "/downloads/demo-1.0.tar.gz"], "localpaths")
        check(bb.fetch2.localpath("file://defconfig", d), tmp + "/files/machine/defconfig", "machine file wins")
        ud = fetcher.ud["https://example.com/demo-1.0.tar.gz;name=src"]
        check((type(ud.method).__name__, ud.sha256_name, ud.sha256_expected), ("Wget", "src.sha256sum", "ab" * 32),
              "expected checksum of a download")
        check(bb.fetch2.get_checksum_file_list(d),
              "%s/files/machine/fix.patch:False %s/files/fix.patch:True %s/files/machine/defconfig:True"
              % (tmp, tmp, tmp), "get_checksum_file_list")
        d.setVar("SRC_URI", "file://missing.patch")
        try:
            bb.fetch2.get_checksum_file_list(d)
        except bb.BBHandledException:
            pass
        else:
            raise AssertionError("a local file found nowhere must stop the parse")
    finally:
        shutil.rmtree(tmp)


def test_fetch_srcrev():
    tmp = tempfile.mkdtemp()
    try:
        d = _fetch_datastore(tmp)
        d.setVar("SRC_URI", "git://example.com/demo.git;branch=main;protocol=https file://fix.patch")
        d.setVar("SRCREV", "0123456789abcdef0123456789abcdef01234567")
        check(bb.fetch2.get_srcrev(d), "AUTOINC+0123456789", "get_srcrev of one git URL")
        check(bb.fetch2.get_hashvalue(d), "0123456789abcdef0123456789abcdef01234567", "get_hashvalue")
        ud = bb.fetch2.Fetch([], d).ud["git://example.com/demo.git;branch=main;protocol=https"]
        check((ud.proto, ud.branch, ud.revision, ud.localpath),
              ("https", "main", "0123456789abcdef0123456789abcdef01234567", tmp + "/downloads/git2/example.com.demo.git"),
              "git URL data")
        d.setVar("SRC_URI", "git://example.com/a.git;branch=main;name=a git://example.com/b.git;branch=main;name=b")
        d.setVar("SRCREV_a", "1" * 40)
        d.setVar("SRCREV_b", "2" * 40)
        d.setVar("SRCREV_FORMAT", "a_b")
        check(bb.fetch2.get_srcrev(d), "AUTOINC+1111111111_2222222222", "SRCREV_FORMAT with two names")
        d = _fetch_datastore(tmp + "/other")
        d.setVar("SRC_URI", "https://example.com/x.tar.gz")
        try:
            bb.fetch2.get_srcrev(d)
        except bb.fetch2.FetchError as exc:
            check(str(exc), "Fetcher failure: SRCREV was used yet no valid SCM was found in SRC_URI", "no SCM")
        else:
            raise AssertionError("get_srcrev without an SCM URL must raise FetchError")
        check(bb.fetch2.get_autorev(d), "AUTOINC", "AUTOREV")
        try:
            bb.fetch2.FetchData("git://example.com/x.git", d)
        except bb.fetch2.ParameterError:
            pass
        else:
            raise AssertionError("a git URL without branch= or nobranch=1 must be rejected")
    finally:
        shutil.rmtree(tmp)


# --- tasks, events, functions -----------------------------------------------

def test_addtask_deltask():
    d = new_datastore()
    bb.build.addtask("fetch", None, None, d)
    bb.build.addtask("unpack", None, "do_fetch", d)
    bb.build.addtask("do_patch", "do_build", "do_unpack", d)
    bb.build.addtask("build", None, None, d)
    check(list(d.getVar("__BBTASKS", False)), ["do_fetch", "do_unpack", "do_patch", "do_build"], "__BBTASKS")
    check(list(d.getVarFlag("do_unpack", "deps", False)), ["do_fetch"], "after")
    check(list(d.getVarFlag("do_build", "deps", False)), ["do_patch"], "before")
    check(bool(d.getVarFlag("do_patch", "task", False)), True, "task flag")
    check(bb.build.listtasks(d), ("do_fetch", "do_unpack", "do_patch", "do_build"), "listtasks")
    check(bb.build.preceedtask("do_patch", False, d), {"do_unpack"}, "preceedtask")
    check(bb.build.tasksbetween("do_fetch", "do_patch", d), ["do_fetch", "do_unpack", "do_patch"], "tasksbetween")
    bb.build.deltask("unpack", d)
    check(list(d.getVar("__BBTASKS", False)), ["do_fetch", "do_patch", "do_build"], "deltask removes the task")
    check(list(d.getVarFlag("do_patch", "deps", False) or []), [], "deltask removes dependencies on it")


def test_event_handlers():
    d = new_datastore()
    body = "    d.setVar('SEEN', (d.getVar('SEEN') or '') + bb.event.getName(e) + ' ')\n" \
           "    d.setVar('DATA_IS_D', str(e.data is d))\n"
    result = bb.event.register("bbcompat_test_handler", body, ["bb.event.RecipeParsed"], "test.bbclass", 10, d)
    check(result, bb.event.Registered, "register a handler")
    check(bb.event.register("bbcompat_test_handler", body, None, None, None, d), bb.event.AlreadyRegistered,
          "register the same name again")
    event = bb.event.RecipeParsed("/x/demo_1.0.bb")
    bb.event.fire(event, d)
    bb.event.fire(bb.event.RecipePreFinalise("/x/demo_1.0.bb"), d)
    check(d.getVar("SEEN"), "RecipeParsed ", "only masked events reach the handler")
    check(d.getVar("DATA_IS_D"), "True", "e.data is the datastore during the call")
    check(hasattr(event, "data"), False, "e.data is removed after the call")
    other = new_datastore()
    bb.event.fire(bb.event.RecipeParsed("/x/other.bb"), other)
    check(other.getVar("SEEN"), None, "handlers run only for datastores they were registered in")
    bb.event.remove("bbcompat_test_handler", None, d)
    bb.event.fire(bb.event.RecipeParsed("/x/demo_1.0.bb"), d)
    check(d.getVar("SEEN"), "RecipeParsed ", "removed handlers do not run")
    check(bb.event.getName(bb.event.ConfigParsed), "ConfigParsed", "getName of a class")


def test_exec_func_python():
    tmp = tempfile.mkdtemp()
    try:
        d = new_datastore(T=tmp + "/temp", B=tmp + "/build", GREETING="hello")
        d.setVar("do_greet", "    d.setVar('RESULT', d.getVar('GREETING') + ' ' + os.path.basename(os.getcwd()))\n")
        d.setVarFlag("do_greet", "func", 1)
        d.setVarFlag("do_greet", "python", 1)
        d.setVarFlag("do_greet", "filename", tmp + "/demo.bb")
        d.setVarFlag("do_greet", "lineno", 3)
        d.setVarFlag("do_greet", "dirs", "${B}")
        before = os.getcwd()
        bb.build.exec_func("do_greet", d)
        check(d.getVar("RESULT"), "hello build", "python function ran in its [dirs] directory")
        check(os.getcwd(), before, "working directory restored")
        d.setVar("do_fail", "    raise bb.parse.SkipRecipe('not for this machine')\n")
        for flag, value in (("func", 1), ("python", 1), ("filename", tmp + "/demo.bb"), ("lineno", 7)):
            d.setVarFlag("do_fail", flag, value)
        try:
            bb.build.exec_func("do_fail", d)
        except bb.parse.SkipRecipe as exc:
            check(str(exc), "not for this machine", "SkipRecipe passes through unchanged")
        else:
            raise AssertionError("SkipRecipe must propagate")
    finally:
        shutil.rmtree(tmp)


def test_fatal_and_better_exec():
    try:
        bb.fatal("stop ", "here")
    except bb.BBHandledException:
        pass
    else:
        raise AssertionError("bb.fatal must raise BBHandledException")
    context = {}
    bb.utils.better_exec("x = os.path.join('a', 'b')\n", context)
    check(context["x"], "a/b", "better_exec runs in the global context (os is there)")
    try:
        bb.utils.better_exec("1 / 0\n", {}, realfile="demo.bb")
    except bb.BBHandledException as exc:
        check(type(exc.args[0]).__name__, "ZeroDivisionError", "the original error is kept")
    else:
        raise AssertionError("a failing function must raise BBHandledException")
    check(bb.utils.better_eval("a + b", {"a": 1}, {"b": 2}), 3, "better_eval with extra globals")


def test_datacontext_and_expansion_error():
    d = new_datastore(FOO="foo-value")
    ctx = bb.data_smart.DataContext(d)
    check(ctx["FOO"], "foo-value", "unknown names are variables")
    check(ctx["d"] is d, True, "d is the datastore")
    for name in ("len", "oe", "os", "UNSET_VARIABLE"):
        try:
            ctx[name]
        except KeyError:
            pass
        else:
            raise AssertionError("%s must not resolve to a variable" % name)
    err = bb.data_smart.ExpansionError("A", "${@1/0}", ZeroDivisionError("division by zero"))
    err.addVar("B")
    check(err.varlist, ["A", "B"], "ExpansionError.varlist")
    check(str(err), "Failure expanding variable A, expression was ${@1/0} which triggered exception "
                    "ZeroDivisionError: division by zero\nThe variable dependency chain for the failure is: A -> B",
          "ExpansionError message")


def test_process_run():
    check(bb.process.run("echo hello")[0], "hello\n", "run through the shell")
    check(bb.process.run(["printf", "%s", "x y"])[0], "x y", "run an argument list")
    try:
        bb.process.run("echo out; echo err >&2; exit 3")
    except bb.process.ExecutionError as exc:
        check((exc.exitcode, exc.stdout, exc.stderr), (3, "out\n", "err\n"), "ExecutionError keeps the output")
    else:
        raise AssertionError("a failing command must raise ExecutionError")
    try:
        bb.process.run(["/nonexistent/program"])
    except bb.process.NotFoundError:
        pass
    else:
        raise AssertionError("a missing program must raise NotFoundError")


def test_zstd_round_trip():
    import bb.compress.zstd
    assert shutil.which("zstd"), "the zstd program is needed (Debian package zstd)"
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "data.zst")
        with bb.compress.zstd.open(path, "wt", encoding="utf-8", num_threads=1) as f:
            f.write("line one\nline two\n")
        with bb.compress.zstd.open(path, "rt", encoding="utf-8") as f:
            check(f.read(), "line one\nline two\n", "zstd text round trip")
    finally:
        shutil.rmtree(tmp)


def test_module_functions_analysed_on_demand():
    import importlib.util
    import bb.codeparser as cp
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "rstorelibcheck.py")
        with open(path, "w") as f:
            f.write(
                "def visit(name, args):\n"
                "    return {'CHECKVIS': {'x'}}, set(), None\n"
                "\n"
                "def reader(d):\n"
                "    return d.getVar('CHECK_A') + d.getVar('CHECK_B') + helper(d)\n"
                "\n"
                "def helper(d):\n"
                "    return d.getVar('CHECK_C')\n"
                "\n"
                "def marked(d):\n"
                "    pass\n"
                "marked.visitorcode = visit\n"
            )
        spec = importlib.util.spec_from_file_location("rstorelibcheck", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        funcs = {n: getattr(module, n) for n in ("reader", "helper", "marked")}
        cp.add_module_functions(path, funcs, "rstorelibcheck")
        check("rstorelibcheck.reader" in cp.modulecode_deps, False, "library functions wait for their analysis")
        # A visitor is used by metadata code parsed before the library is analysed.
        parser = cp.PythonParser("check")
        parser.parse_python("rstorelibcheck.marked(d)")
        check(parser.contains, {"CHECKVIS": {"x"}}, "visitor of a library function not analysed yet")
        d = bb.data.init()
        d.setVarFlag("rstorelibcheck.reader", "vardepsexclude", "CHECK_B")
        cp.update_module_dependencies(d)
        deps = cp.module_dependencies()
        reader = deps["rstorelibcheck.reader"]
        check(reader[0], {"CHECK_A"}, "references, [vardepsexclude] applied after the analysis")
        check(reader[1], {"rstorelibcheck.helper"}, "calls within the module carry its namespace")
        check(deps["rstorelibcheck.helper"][0], {"CHECK_C"}, "second function analysed")
        check(deps["rstorelibcheck.marked"][5] is not None, True, "visitorcode kept")
    finally:
        shutil.rmtree(tmp)


def run_all():
    """Run every test_* function; returns ``(passed, failed, failures)``."""
    passed, failures = 0, []
    for name, func in sorted(globals().items()):
        if name.startswith("test_") and callable(func):
            try:
                func()
                passed += 1
            except Exception:
                failures.append((name, traceback.format_exc()))
    return passed, len(failures), failures


if __name__ == "__main__":
    passed, failed, failures = run_all()
    for name, text in failures:
        sys.stderr.write("FAILED %s\n%s\n" % (name, text))
    print("%d checks" % CHECKS)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
