"""Ticket scenarios for the live Request Tracker suite, adapted from the sandbox seed.

Each scenario names the default rules (rules/triggers.toml) it must trigger; an empty tuple is a
decoy the worker must leave alone. Every default rule fires at least once. Times are "how long
ago" from the seed's `now`, all within the last three days so the profile's `start = "7d"`
reads them. Thread lines are (who, text): `c` the requester (correspondence), `a` the tier's
agent (correspondence: a public reply), `n` the tier's agent (comment: an internal note), and
`s` a status change made by the agent (text = the RT status). The first line is the ticket's
description (the Create transaction, written by the requester).

Requesters have at most two tickets here, except Hannah Okafor (three: repeat-issue).
"""

from __future__ import annotations

from dataclasses import dataclass

MANAGER, LEGAL, VIP = "manager-request", "legal-threat", "vip-high-priority"
REPEAT, URGENT, OUTAGE = "repeat-issue", "urgent-no-reply", "outage-surge"
BAD_CSAT, MONEY, APPROVAL = "bad-satisfaction", "financial-impact", "needs-approval"

# RT Priority per level; the profile's [priorities] thresholds are 0 / 25 / 50 / 75.
PRIORITY = {"low": 10, "normal": 30, "high": 55, "urgent": 80}


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    email: str
    organization: str | None = None
    tags: tuple[str, ...] = ()  # the organization's tags, in the user CF "Customer Tags"


@dataclass(frozen=True, slots=True)
class Scenario:
    subject: str
    requester: str  # a key of CUSTOMERS
    ago: str  # when the ticket was created
    thread: tuple[tuple[str, str], ...]
    status: str = "open"  # the RT status at the end: new open stalled resolved rejected
    priority: str = "normal"
    tier: str = "t1"
    tags: tuple[str, ...] = ()
    refund: str | None = None
    satisfaction: str | None = None
    rules: tuple[str, ...] = ()


ORGS = {
    "globex": ("Globex", ("vip",), "globex.example"),
    "initech": ("Initech", ("enterprise",), "initech.example"),
    "acme": ("Acme Corp", (), "acme.example"),
    "umbrella": ("Umbrella Health", ("smb",), "umbrella-health.example"),
    "hooli": ("Hooli", (), "hooli.example"),
    "vandelay": ("Vandelay Industries", ("smb",), "vandelay.example"),
}

_PEOPLE = {
    "maria": ("Maria Lopez", "acme"),
    "sofia": ("Sofia Rossi", "acme"),
    "mateo": ("Mateo Silva", "acme"),
    "aaron": ("Aaron Brooks", "acme"),
    "ana": ("Ana Moreno", "globex"),
    "priyanka": ("Priyanka Shah", "globex"),
    "wei": ("Wei Zhang", "globex"),
    "lena": ("Lena Novak", "globex"),
    "olivia": ("Olivia Grant", "initech"),
    "lucas": ("Lucas Martin", "initech"),
    "rahul": ("Rahul Mehta", "initech"),
    "victor": ("Victor Hale", "initech"),
    "hannah": ("Hannah Okafor", "umbrella"),
    "fatima": ("Fatima Haddad", "umbrella"),
    "zoe": ("Zoe Adams", "umbrella"),
    "daniel": ("Daniel Byrne", "hooli"),
    "ryan": ("Ryan Walsh", "hooli"),
    "pedro": ("Pedro Alves", "hooli"),
    "kenji": ("Kenji Sato", "vandelay"),
    "tomc": ("Tom Carter", "vandelay"),
    "sam": ("Sam Patel", "vandelay"),
    "chloe": ("Chloe Martin", None),
    "emma": ("Emma Dubois", None),
    "ben": ("Ben Harris", None),
    "dev": ("Dev Sharma", None),
    "yuki": ("Yuki Ito", None),
    "omar": ("Omar Farouk", None),
    "hugo": ("Hugo Lambert", None),
    "noah": ("Noah Clarke", None),
    "paul": ("Paul Jensen", None),
}


def _customer(key: str, name: str, org: str | None) -> Customer:
    if org is None:
        return Customer(name, f"{key}@mail.example")
    org_name, tags, domain = ORGS[org]
    return Customer(name, f"{key}@{domain}", org_name, tags)


CUSTOMERS = {key: _customer(key, name, org) for key, (name, org) in _PEOPLE.items()}

SCENARIOS: tuple[Scenario, ...] = (
    # ----- manager-request: the requester's latest message asks for a manager
    Scenario(
        "Charged twice for the March invoice", "maria", "3h",
        (("c", "I've been charged twice for invoice INV-20931 this month. This is the second "
               "time. I want to speak to your manager today."),),
        status="new", tags=("billing",), rules=(MANAGER,),
    ),
    Scenario(
        "Export keeps timing out on large reports", "daniel", "2d",
        (("c", "Exporting the quarterly report times out after about 30 seconds, every time."),
         ("a", "Thanks Daniel, could you tell me roughly how many rows the report has?"),
         ("c", "Around 80k rows. I've written three times already. Please put me through to a "
               "supervisor.")),
        tags=("reports",), rules=(MANAGER,),
    ),
    Scenario(
        "API tokens revoked without warning", "kenji", "1d",
        (("c", "All of our API tokens stopped working overnight and our integrations fail."),
         ("a", "Our platform specialists are looking at the audit logs now."),
         ("c", "We need a manager to explain how this happened.")),
        tier="t3", priority="high", tags=("api",), rules=(MANAGER,),
    ),
    # ----- legal-threat: a customer message mentions legal steps
    Scenario(
        "Unauthorised charge on my card", "chloe", "7h",
        (("c", "There is a charge of $89.00 on my card that I never authorised. If it's not "
               "reversed this week I will open a chargeback with my bank."),),
        # legal-threat raises it to urgent, and a decision is stable: urgent-no-reply follows.
        status="new", tags=("billing",), rules=(LEGAL, URGENT),
    ),
    Scenario(
        "Data deleted after plan change", "ryan", "1d",
        (("c", "After switching plans, two years of project history disappeared."),
         ("a", "I'm very sorry, Ryan. I've asked engineering whether backups can restore it."),
         ("c", "Get me a supervisor today or my attorney will be in touch.")),
        tags=("data_loss",), rules=(MANAGER, LEGAL),
    ),
    # ----- vip-high-priority: high or urgent at a vip or enterprise organization
    Scenario(
        "SSO login loop for all Globex staff", "ana", "2d",
        (("c", "Since this morning everyone at Globex is stuck in a redirect loop when signing "
               "in through Okta."),
         ("a", "Thanks Ana, we're reproducing it now with your IdP metadata.")),
        priority="high", tags=("sso",), rules=(VIP,),
    ),
    Scenario(
        "Webhook deliveries delayed by hours", "rahul", "20h",
        (("c", "Our webhook deliveries arrive 2-3 hours late, which breaks our order pipeline."),
         ("a", "We see a backlog on one delivery queue; I've told the on-call engineer.")),
        priority="urgent", tags=("webhooks",), rules=(VIP,),
    ),
    # ----- repeat-issue: reopened twice, or three tickets from one requester in 30 days
    Scenario(
        "Calendar sync stops every few days", "tomc", "66h",
        (("c", "Our Google Calendar sync stopped again."),
         ("a", "We've reconnected the integration; it should be working now."),
         ("s", "resolved"), ("s", "open"),
         ("c", "It stopped again this morning."),
         ("a", "We've applied a fix to your account, please tell us if it happens again."),
         ("s", "resolved"), ("s", "open"),
         ("c", "It's stopped for the third time. We rely on this for bookings.")),
        tags=("calendar",), rules=(REPEAT,),
    ),
    Scenario(
        "Lab results upload fails for PDF files", "hannah", "60h",
        (("c", "Uploading lab results as PDF fails with 'unsupported file'. JPGs work."),
         ("a", "Could you send one of the files that fails so we can test it?")),
        status="stalled", tags=("uploads",), rules=(REPEAT,),
    ),
    Scenario(
        "Appointment reminders sent twice", "hannah", "40h",
        (("c", "Patients are getting every appointment reminder twice."),
         ("a", "Thanks Hannah, I can see duplicate jobs in your reminder schedule.")),
        tags=("reminders",), rules=(REPEAT,),
    ),
    Scenario(
        "Patient portal shows the wrong time zone", "hannah", "20h",
        (("c", "The patient portal shows appointment times in UTC instead of local time."),),
        status="new", tags=("portal",), rules=(REPEAT,),
    ),
    # ----- urgent-no-reply: urgent, no public agent reply, older than 4h
    Scenario(
        "Checkout broken for EU customers", "mateo", "5h",
        (("c", "Since the last release EU customers can't complete checkout: the VAT step "
               "spins forever."),),
        status="new", priority="urgent", tags=("checkout",), rules=(URGENT,),
    ),
    Scenario(
        "Invoices generated with the wrong VAT rate", "fatima", "9h",
        (("c", "All invoices generated today use 19% VAT instead of 20%."),
         ("n", "EU rate table was not updated in the last deploy; asked billing engineering.")),
        priority="urgent", tags=("billing",), rules=(URGENT,),
    ),
    # ----- outage-surge: five outage reports within 40 minutes
    Scenario(
        "Dashboard down for our whole team", "pedro", "50m",
        (("c", "The dashboard shows a blank page for everyone on our team."),),
        status="new", rules=(OUTAGE,),
    ),
    Scenario(
        "Cannot log in since this morning", "yuki", "44m",
        (("c", "I get 'session expired' every time I try to sign in."),),
        status="new", rules=(OUTAGE,),
    ),
    Scenario(
        "Reports page not loading", "sam", "37m",
        (("c", "The reports page just spins."),),
        status="new", rules=(OUTAGE,),
    ),
    Scenario(
        "Can't log in to the admin console", "omar", "24m",
        (("c", "The admin console rejects my password, which worked yesterday."),),
        status="new", priority="high", rules=(OUTAGE,),
    ),
    Scenario(
        "App down again?", "zoe", "12m",
        (("c", "Nothing loads for our clinic staff right now."),),
        status="new", rules=(OUTAGE,),
    ),
    # ----- bad-satisfaction: a bad rating on a ticket that is not closed
    Scenario(
        "Invoice address change", "noah", "2d",
        (("c", "Please change the billing address on our invoices to 12 Harbour Street."),
         ("a", "Done, the next invoice will show the new address.")),
        status="resolved", satisfaction="bad", rules=(BAD_CSAT,),
    ),
    # ----- financial-impact: a refund of 500 or more
    Scenario(
        "Refund for annual plan billed in error", "aaron", "2d",
        (("c", "We were billed for an annual plan although we chose monthly. Please refund it."),
         ("a", "I've asked billing to process the refund.")),
        refund="750", tags=("billing", "refund"), rules=(MONEY,),
    ),
    Scenario(
        "Compensation for missed SLA", "victor", "50h",
        (("c", "Last month's availability was below the 99.9% in our contract. We'd like the "
               "service credit."),
         ("a", "Our specialists are calculating the credit now.")),
        tier="t3", refund="900.50", tags=("sla", "refund"), rules=(MONEY,),
    ),
    # ----- needs-approval: tagged needs_approval
    Scenario(
        "Discount request for 40 extra seats", "lena", "2d",
        (("c", "We'd like to add 40 seats. Is a volume discount possible?"),
         ("a", "I'll ask for a discount approval and get back to you.")),
        tags=("needs_approval", "discount"), rules=(APPROVAL,),
    ),
    # ===== decoys: near misses the worker must leave alone
    Scenario(  # an agent mentions a manager
        "Refund for unused seats", "sofia", "2d",
        (("c", "We reduced our team from 12 to 8 people. Can we get a refund for unused seats?"),
         ("a", "Good news: my manager approved the refund for the four seats.")),
        status="stalled", refund="240", tags=("billing", "refund"),
    ),
    Scenario(  # asked for a manager, then resolved
        "Please close my account", "emma", "2d",
        (("c", "I want to close my account and I want to speak to a manager about the fees."),
         ("a", "I've closed the account and refunded last month's fee.")),
        status="resolved", tags=("cancellation",),
    ),
    Scenario(  # a person called Sue, at a vip organization, normal priority
        "Access for our accounts team", "priyanka", "2d",
        (("c", "Sue from our accounts team needs read-only access to invoices. Can you add "
               "sue.palmer@globex.example?"),
         ("a", "Done! Sue should receive an invite shortly.")),
        status="stalled", tags=("access",),
    ),
    Scenario(  # the customer's legal team; an agent's internal note about a chargeback
        "Contract renewal paperwork", "lucas", "60h",
        (("c", "Our legal team is on holiday until the 20th, so the signed renewal will be a "
               "little late. Is that OK?"),
         ("a", "No problem at all, Lucas. I've noted it on the account."),
         ("n", "Customer disputed an old invoice with a chargeback last year; nothing to do.")),
        status="stalled", tags=("renewal",),
    ),
    Scenario(  # urgent but only two hours old
        "Scheduled reports stopped sending", "dev", "2h",
        (("c", "None of our scheduled reports went out this morning."),),
        status="new", priority="urgent", tags=("reports",),
    ),
    Scenario(  # reopened once only
        "Mobile app crashes when attaching photos", "ben", "2d",
        (("c", "The Android app crashes whenever I attach a photo to a job."),
         ("a", "Version 4.2.1 fixes this, could you update and try again?"),
         ("s", "resolved"), ("s", "open"),
         ("c", "Updated, but it crashed again today with a large photo.")),
        tags=("mobile",),
    ),
    Scenario(  # an outage subject, days away from the surge
        "Site down for a few minutes last night", "hugo", "2d",
        (("c", "Our booking site was unreachable for about ten minutes around 23:00."),
         ("a", "There was a short network incident at that time; it's been resolved.")),
    ),
    Scenario(  # a bad rating on a closed (rejected) ticket
        "Feature request: dark mode", "noah", "68h",
        (("c", "Any plans for a dark mode?"),
         ("a", "It's on our roadmap but not scheduled yet.")),
        status="rejected", satisfaction="bad",
    ),
    Scenario(  # a large refund on a solved ticket
        "Refund for cancelled workshop", "paul", "50h",
        (("c", "Our onboarding workshop was cancelled, please refund the fee."),
         ("a", "Refunded in full, sorry it didn't work out.")),
        status="resolved", refund="980", tags=("billing", "refund"),
    ),
)
