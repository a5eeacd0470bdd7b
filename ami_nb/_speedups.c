/* Optional C accelerator for ami_nb.protocol: frames and parses a region of complete AMI messages.
 *
 * parse_region(region: bytes, errors: str, message_type: type, keys: dict) -> (list, int)
 *
 * `region` holds whole messages separated by "\r\n\r\n" (the caller has already cut it at a message end).
 * Each message becomes an instance of `message_type` (a dict subclass) filled with first values; when a key
 * repeats, the instance's `_pairs` attribute is set to the list of every (key, value) pair in order.
 * Values are decoded from UTF-8 with the `errors` policy; splitting at ASCII delimiters never cuts a UTF-8
 * sequence, so this equals decoding the whole region first. Keys are interned through `keys` (str -> str).
 * A block with a line that has no ": " is returned as a `str` (decoded whole) for the Python slow path;
 * the int counts them. The pure-Python parser in protocol.py is the reference; tests compare both.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_FAST_PAIRS 512

static PyObject *pairs_str; /* "_pairs" */

static const char *find_crlf(const char *p, const char *end) {
    while (p < end) {
        const char *r = memchr(p, '\r', (size_t)(end - p));
        if (r == NULL || r + 1 >= end) return NULL;
        if (r[1] == '\n') return r;
        p = r + 1;
    }
    return NULL;
}

static const char *find_block_end(const char *p, const char *end) {
    while (p < end) {
        const char *r = find_crlf(p, end);
        if (r == NULL) return end;
        if (r + 3 < end && r[2] == '\r' && r[3] == '\n') return r;
        p = r + 2;
    }
    return end;
}

/* Header names repeat in every message: a small open-addressing table keyed on the raw bytes returns the
 * same str object without decoding, allocating or hashing a new one. Misses fall back to `keys` (str -> str).
 * Both live as long as the process, and header names are the server's choice (ChanVariable(<channel>), or a
 * broken peer's megabyte "names"), so both are bounded: the table by its fixed slots of names under KEY_MAX
 * bytes, `keys` by entries, by name length and by the bytes of all names it holds. */
#define KEY_SLOTS 2048
#define KEY_MAX 48
#define INTERN_MAX_ENTRIES 4096
#define INTERN_MAX_NAME 128            /* longer names are decoded per message, never kept */
#define INTERN_MAX_BYTES (256 * 1024)  /* total bytes of the names kept in `keys` */
static Py_ssize_t interned_bytes;
typedef struct { Py_ssize_t len; char bytes[KEY_MAX]; PyObject *str; } key_slot;
static key_slot key_table[KEY_SLOTS];

static PyObject *intern_key(PyObject *keys, const char *s, Py_ssize_t n, const char *errors) {
    uint32_t h = 2166136261u;
    int ascii = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        ascii &= (unsigned char)s[i] < 0x80;
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    key_slot *slot = NULL;
    if (n < KEY_MAX && ascii) { /* only ASCII keys: their text never depends on the decoding policy */
        for (int probe = 0; probe < 8; probe++) {
            key_slot *e = &key_table[(h + probe) & (KEY_SLOTS - 1)];
            if (e->str == NULL) { slot = e; break; }
            if (e->len == n && memcmp(e->bytes, s, (size_t)n) == 0) { Py_INCREF(e->str); return e->str; }
        }
    }
    PyObject *k = PyUnicode_DecodeUTF8(s, n, errors);
    if (k == NULL) return NULL;
    PyObject *cached = PyDict_GetItemWithError(keys, k);
    if (cached != NULL) {
        Py_INCREF(cached);
        Py_DECREF(k);
        k = cached;
    } else if (PyErr_Occurred()) {
        Py_DECREF(k);
        return NULL;
    } else if (n <= INTERN_MAX_NAME && PyDict_GET_SIZE(keys) < INTERN_MAX_ENTRIES &&
               interned_bytes + n <= INTERN_MAX_BYTES) {
        if (PyDict_SetItem(keys, k, k) < 0) {
            Py_DECREF(k);
            return NULL;
        }
        interned_bytes += n;
    }
    if (slot != NULL) { /* the table keeps one reference for the life of the process */
        slot->len = n;
        memcpy(slot->bytes, s, (size_t)n);
        Py_INCREF(k);
        slot->str = k;
    }
    return k;
}

/* Short values repeat too ("call,all", "Up", "demo", "en"): a direct-mapped cache, replaced on a miss, shares
 * one str per recent value. Only pure-ASCII values are cached, so the error policy never matters for them. */
#define VAL_SLOTS 4096
#define VAL_MAX 32
typedef struct { Py_ssize_t len; char bytes[VAL_MAX]; PyObject *str; } val_slot;
static val_slot val_table[VAL_SLOTS];

static PyObject *decode_value(const char *s, Py_ssize_t n, const char *errors) {
    if (n >= VAL_MAX) return PyUnicode_DecodeUTF8(s, n, errors);
    uint32_t h = 2166136261u;
    int ascii = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ascii &= c < 0x80;
        h = (h ^ c) * 16777619u;
    }
    if (!ascii) return PyUnicode_DecodeUTF8(s, n, errors);
    val_slot *e = &val_table[h & (VAL_SLOTS - 1)];
    if (e->str != NULL && e->len == n && memcmp(e->bytes, s, (size_t)n) == 0) {
        Py_INCREF(e->str);
        return e->str;
    }
    PyObject *v = PyUnicode_DecodeASCII(s, n, NULL);
    if (v == NULL) return NULL;
    Py_XSETREF(e->str, Py_NewRef(v));
    e->len = n;
    memcpy(e->bytes, s, (size_t)n);
    return v;
}

/* Parse one block [p, end). Returns a new reference: a message, a str (slow path), or NULL on error.
 * *slow is set to 1 when a str is returned. */
static PyObject *parse_block(const char *p, const char *end, const char *errors, PyObject *mtype,
                             PyObject *keys, int *slow) {
    PyObject *kv[2 * MAX_FAST_PAIRS];
    Py_ssize_t n = 0;
    int dup = 0;
    const char *bstart = p;
    PyObject *msg = PyObject_CallNoArgs(mtype);
    if (msg == NULL) return NULL;
    /* A message holds only str keys and values (and maybe a list of str tuples): it is never part of a reference
     * cycle, so the cyclic GC need not scan the hundreds of thousands a flood creates. (Messages are to be read,
     * not decorated: an attribute that refers back to its own message would make a cycle nothing collects.) */
    if (PyObject_GC_IsTracked(msg)) PyObject_GC_UnTrack(msg);
    while (p < end) {
        const char *eol = find_crlf(p, end);
        if (eol == NULL) eol = end;
        const char *sep = NULL;
        for (const char *q = p; q + 1 < eol; q++) {
            if (q[0] == ':' && q[1] == ' ') { sep = q; break; }
        }
        if (sep == NULL || n >= MAX_FAST_PAIRS) goto slow_path;
        PyObject *k = intern_key(keys, p, sep - p, errors);
        if (k == NULL) goto error;
        PyObject *v = decode_value(sep + 2, eol - (sep + 2), errors);
        if (v == NULL) { Py_DECREF(k); goto error; }
        Py_ssize_t before = PyDict_GET_SIZE(msg);
        if (PyDict_SetDefault(msg, k, v) == NULL) { Py_DECREF(k); Py_DECREF(v); goto error; } /* first wins */
        if (PyDict_GET_SIZE(msg) == before) dup = 1; /* the key was there: by key, never by value identity */
        kv[2 * n] = k;
        kv[2 * n + 1] = v;
        n++;
        p = eol + 2;
    }
    if (dup) {
        PyObject *pairs = PyList_New(n);
        if (pairs == NULL) goto error;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *pair = PyTuple_Pack(2, kv[2 * i], kv[2 * i + 1]);
            if (pair == NULL) { Py_DECREF(pairs); goto error; }
            PyList_SET_ITEM(pairs, i, pair);
        }
        if (PyObject_SetAttr(msg, pairs_str, pairs) < 0) { Py_DECREF(pairs); goto error; }
        Py_DECREF(pairs);
    }
    for (Py_ssize_t i = 0; i < 2 * n; i++) Py_DECREF(kv[i]);
    return msg;

slow_path:
    for (Py_ssize_t i = 0; i < 2 * n; i++) Py_DECREF(kv[i]);
    Py_DECREF(msg);
    *slow = 1;
    return PyUnicode_DecodeUTF8(bstart, end - bstart, errors);

error:
    for (Py_ssize_t i = 0; i < 2 * n; i++) Py_DECREF(kv[i]);
    Py_DECREF(msg);
    return NULL;
}

static PyObject *parse_region(PyObject *self, PyObject *args) {
    Py_buffer buf;
    const char *errors;
    PyObject *mtype, *keys;
    if (!PyArg_ParseTuple(args, "y*sOO!", &buf, &errors, &mtype, &PyDict_Type, &keys)) return NULL;
    const char *p = buf.buf;
    const char *end = p + buf.len;
    Py_ssize_t nslow = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) goto fail;
    while (p < end) {
        while (p + 1 < end && p[0] == '\r' && p[1] == '\n') p += 2; /* blank lines between messages */
        if (p >= end) break;
        const char *bend = find_block_end(p, end);
        int slow = 0;
        PyObject *item = parse_block(p, bend, errors, mtype, keys, &slow);
        if (item == NULL) goto fail;
        nslow += slow;
        if (PyList_Append(out, item) < 0) { Py_DECREF(item); goto fail; }
        Py_DECREF(item);
        p = (end - bend >= 4) ? bend + 4 : end;
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("(Nn)", out, nslow);
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&buf);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_region", parse_region, METH_VARARGS, "Parse a region of complete AMI messages (see module doc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups",
                                    "C accelerator for ami_nb.protocol (optional).", -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    pairs_str = PyUnicode_InternFromString("_pairs");
    if (pairs_str == NULL) return NULL;
    return PyModule_Create(&module);
}
