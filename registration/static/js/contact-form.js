// The contact form: read it, validate it, show errors accessibly, fill it in, and
// manage the list of additional persons.
//
// Used by the guest check-in page and by the business portal's staff entry. The
// HTML comes from registration/checkin/templates/checkin/_contact_fields.html
// (so the form also works without JavaScript); the rules and the translated
// messages come from the server (contact_form.client_rules), so the browser and
// the no-JavaScript path validate alike and say the same words.

const MAIN_FIELDS = ["firstName", "lastName", "streetAddress", "zipCode", "city", "phone", "email"];
const ADDRESS_FIELDS = ["streetAddress", "zipCode", "city", "phone", "email"];
const REQUIRED_FIELDS = new Set(["firstName", "lastName", "streetAddress", "zipCode", "city"]);
// eslint-disable-next-line no-control-regex -- finding control characters is its job
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

function fullMatch(pattern) {
  // The server's patterns are Python regular expressions: named groups differ only in
  // spelling, and Python's \d is any decimal digit (٥ too), JavaScript's only 0-9.
  const source = pattern.replace(/\(\?P</g, "(?<").replace(/\\d/g, "\\p{Nd}");
  return new RegExp("^(?:" + source + ")$", "u");
}

function input(form, id) {
  return form.querySelector("#" + CSS.escape(id));
}

function valueOf(form, id) {
  const element = input(form, id);
  return element ? element.value.trim() : "";
}

/** The fieldsets of the additional persons, in page order. */
export function personFieldsets(form) {
  return Array.from(form.querySelectorAll("fieldset[data-person]"));
}

function prefixOf(fieldset) {
  return "p" + fieldset.dataset.person + "-";
}

/** "Hauptstraße 5a" -> {street: "Hauptstraße", houseNumber: "5a"} (as the server splits). */
export function splitStreetAddress(text, rules) {
  const match = fullMatch(rules.patterns.houseNumber).exec(text);
  if (match && [...match.groups.street].length <= rules.limits.street) {
    return { street: match.groups.street, houseNumber: match.groups.number };
  }
  return { street: text, houseNumber: "" };
}

/** The typed values of the main guest and the companions, trimmed, as typed. */
export function readContactForm(form) {
  const main = Object.fromEntries(MAIN_FIELDS.map((name) => [name, valueOf(form, name)]));
  const persons = personFieldsets(form).map((fieldset) => {
    const prefix = prefixOf(fieldset);
    const values = {};
    for (const name of ["firstName", "lastName", ...ADDRESS_FIELDS]) {
      values[name] = valueOf(form, prefix + name);
    }
    const same = input(form, prefix + "sameAddress");
    return { prefix, values, sameAddress: same ? same.checked : true };
  });
  return { main, persons };
}

/** The contact record (format v1) for sealing. Call only when validation found nothing. */
export function contactRecord(values, rules) {
  const { main, persons } = values;
  return {
    v: 1,
    firstName: main.firstName,
    lastName: main.lastName,
    ...splitStreetAddress(main.streetAddress, rules),
    zipCode: main.zipCode,
    city: main.city,
    phone: main.phone,
    email: main.email,
    additionalPersons: persons.map((person) => {
      const entry = {
        firstName: person.values.firstName,
        lastName: person.values.lastName,
        sameAddress: person.sameAddress,
      };
      if (!person.sameAddress) {
        Object.assign(entry, splitStreetAddress(person.values.streetAddress, rules), {
          zipCode: person.values.zipCode,
          city: person.values.city,
          phone: person.values.phone,
          email: person.values.email,
        });
      }
      return entry;
    }),
    note: "",
  };
}

function checkPerson(errors, prefix, values, ownAddress, rules) {
  const fail = (name, reason) => errors.push({ fieldId: prefix + name, reason });
  const names = ["firstName", "lastName", ...(ownAddress ? ADDRESS_FIELDS : [])];
  for (const name of names) {
    const value = values[name];
    const tooLong =
      [...value].length > rules.limits[name] ||
      (name === "streetAddress" && [...splitStreetAddress(value, rules).street].length > rules.limits.street);
    if (tooLong) fail(name, "too_long");
    else if (CONTROL_CHARACTERS.test(value)) fail(name, "invalid_text");
    else if (!value && REQUIRED_FIELDS.has(name)) fail(name, "required");
    else if (value && name === "zipCode" && !fullMatch(rules.patterns.zipCode).test(value)) fail(name, "invalid_zip");
    else if (
      value &&
      name === "phone" &&
      !(fullMatch(rules.patterns.phone).test(value) && (value.match(/[0-9]/g) || []).length >= 5)
    )
      fail(name, "invalid_phone");
    else if (value && name === "email" && !fullMatch(rules.patterns.email).test(value)) fail(name, "invalid_email");
  }
  if (!ownAddress) return;
  const required = rules.contactRequired;
  if (required === "phone_or_email" && !values.phone && !values.email) fail("phone", "phone_or_email");
  if ((required === "phone" || required === "both") && !values.phone) fail("phone", "phone_required");
  if ((required === "email" || required === "both") && !values.email) fail("email", "email_required");
}

/** Problems in the typed values: [{fieldId, reason}], in page order, as the server finds them. */
export function validateContactForm(values, rules) {
  const errors = [];
  checkPerson(errors, "", values.main, true, rules);
  values.persons.forEach((person) => checkPerson(errors, person.prefix, person.values, !person.sameAddress, rules));
  return errors;
}

function setDescribedBy(element, id, present) {
  const ids = new Set((element.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
  if (present) ids.add(id);
  else ids.delete(id);
  if (ids.size) element.setAttribute("aria-describedby", [...ids].join(" "));
  else element.removeAttribute("aria-describedby");
}

/** Remove every error mark and hide the summary. */
export function clearErrors(form) {
  for (const element of form.querySelectorAll("[aria-invalid=true]")) {
    element.removeAttribute("aria-invalid");
    setDescribedBy(element, element.id + "-error", false);
  }
  for (const message of form.querySelectorAll(".field-error")) {
    message.textContent = "";
    message.hidden = true;
  }
  const summary = form.querySelector("#error-summary");
  if (summary) summary.hidden = true;
}

function summaryText(form, fieldId, text, rules) {
  const match = /^(?:(p\d+)-)?(\w+)$/.exec(fieldId);
  const label = match && rules.labels[match[2]];
  if (!label) return text;
  if (!match[1]) return `${label}: ${text}`;
  const fieldset = form.querySelector("#" + CSS.escape(match[1]));
  const legend = fieldset ? fieldset.querySelector("legend").textContent : "";
  return `${legend}, ${label}: ${text}`;
}

/** Mark each invalid field, link it to its message, and focus a summary that links to fields. */
export function showErrors(form, errors, rules) {
  clearErrors(form);
  const summary = form.querySelector("#error-summary");
  const list = form.querySelector("#error-list");
  list.replaceChildren();
  for (const { fieldId, reason } of errors) {
    const text = rules.messages[reason] || reason;
    const element = input(form, fieldId);
    const message = form.querySelector("#" + CSS.escape(fieldId + "-error"));
    if (element) {
      element.setAttribute("aria-invalid", "true");
      setDescribedBy(element, fieldId + "-error", true);
    }
    if (message) {
      message.textContent = text;
      message.hidden = false;
    }
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "#" + fieldId;
    link.textContent = summaryText(form, fieldId, text, rules);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      if (element) element.focus();
    });
    item.append(link);
    list.append(item);
  }
  summary.hidden = errors.length === 0;
  if (errors.length) summary.focus();
}

/** A message not tied to a field (e.g. the server refused), shown in the summary. */
export function showFormMessage(form, text) {
  clearErrors(form);
  const list = form.querySelector("#error-list");
  const item = document.createElement("li");
  item.textContent = text;
  list.replaceChildren(item);
  const summary = form.querySelector("#error-summary");
  summary.hidden = false;
  summary.focus();
}

function format(text, number) {
  return text.replace("%(number)s", String(number));
}

/**
 * Additional persons without a server round trip: "Add a person" clones the
 * template, "Remove" deletes the fieldset, "same address" hides the own address.
 * Returns {add(values, sameAddress), clear()}.
 */
export function enhancePersons(form, template, rules, texts) {
  const list = form.querySelector("#person-list");
  const addButton = form.querySelector("#add-person");
  const announcer = form.querySelector("#person-announcer");
  let nextIndex = personFieldsets(form).length;

  function renumber() {
    personFieldsets(form).forEach((fieldset, position) => {
      const number = position + 2;
      fieldset.querySelector("legend").textContent = format(texts.person, number);
      fieldset.querySelector("[data-remove-person]").textContent = format(texts.removePerson, number);
    });
    addButton.hidden = personFieldsets(form).length >= rules.maxPersons;
  }

  function wire(fieldset) {
    const same = fieldset.querySelector("[data-same-address]");
    const own = fieldset.querySelector("[data-own-address]");
    const sync = () => {
      own.hidden = same.checked;
    };
    same.addEventListener("change", sync);
    sync();
    fieldset.querySelector("[data-remove-person]").addEventListener("click", (event) => {
      event.preventDefault();
      fieldset.remove();
      renumber();
      announcer.textContent = texts.personRemoved;
      addButton.focus();
    });
  }

  function add(values = {}, sameAddress = true) {
    if (personFieldsets(form).length >= rules.maxPersons) return null;
    const index = nextIndex++;
    const html = template.innerHTML.replaceAll("__INDEX__", String(index));
    const holder = document.createElement("div");
    holder.innerHTML = html.replaceAll("__NUMBER__", String(personFieldsets(form).length + 2));
    const fieldset = holder.querySelector("fieldset");
    list.append(fieldset);
    const prefix = "p" + index + "-";
    for (const [name, value] of Object.entries(values)) {
      const element = input(form, prefix + name);
      if (element && typeof value === "string") element.value = value;
    }
    fieldset.querySelector("[data-same-address]").checked = sameAddress;
    wire(fieldset);
    renumber();
    return fieldset;
  }

  personFieldsets(form).forEach(wire);
  addButton.addEventListener("click", (event) => {
    event.preventDefault();
    const fieldset = add();
    if (fieldset) {
      announcer.textContent = format(texts.personAdded, personFieldsets(form).length + 1);
      fieldset.querySelector("input").focus();
    }
  });
  renumber();
  return {
    add,
    clear() {
      personFieldsets(form).forEach((fieldset) => fieldset.remove());
      renumber();
    },
  };
}

/** Fill the form from a contact record (remembered details). */
export function fillContactForm(form, record, persons) {
  const main = {
    firstName: record.firstName,
    lastName: record.lastName,
    streetAddress: [record.street, record.houseNumber].filter(Boolean).join(" "),
    zipCode: record.zipCode,
    city: record.city,
    phone: record.phone,
    email: record.email,
  };
  for (const [name, value] of Object.entries(main)) {
    const element = input(form, name);
    if (element && typeof value === "string") element.value = value;
  }
  persons.clear();
  for (const person of record.additionalPersons || []) {
    persons.add(
      {
        firstName: person.firstName,
        lastName: person.lastName,
        streetAddress: [person.street, person.houseNumber].filter(Boolean).join(" "),
        zipCode: person.zipCode,
        city: person.city,
        phone: person.phone,
        email: person.email,
      },
      person.sameAddress !== false,
    );
  }
}
