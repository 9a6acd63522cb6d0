"""The seed as data: organizations, people and ticket scenarios for the default rules.

Each scenario lists the default rules (RULES.md, ids fixed) it must trigger; an empty list is a
decoy the worker must leave alone. Times are "how long ago" (`65m`, `5h`, `3d`) from the seed's
`now`. Thread lines are (who, text): `c` the requester (public), `a` an agent reply (public),
`n` an agent's internal note; the first line is the description.

Requesters have at most two tickets created in the last 30 days, except Hannah Okafor (three:
the repeat-issue scenario) — otherwise repeat-issue would fire all over the seed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spec:
    """One seeded ticket scenario."""

    subject: str
    requester: str
    ago: str
    thread: tuple[tuple[str, str], ...]
    status: str = "open"
    priority: str | None = "normal"
    group: str = "t1"
    tags: tuple[str, ...] = ()
    refund: float | None = None
    rating: tuple[str, str] | None = None  # (score, comment)
    reopens: int = 0
    type: str | None = "question"
    rules: tuple[str, ...] = ()


GROUPS = {
    "t1": (360000001, "Support T1 - Frontline", "First line: every new ticket lands here."),
    "t2": (360000002, "Support T2 - Team leads", "Team leads: escalated customers and approvals."),
    "t3": (360000003, "Support T3 - Specialists", "Specialists: legal, outages, platform issues."),
    "t4": (360000004, "Support T4 - Engineering", "Engineering on call."),
}

# key: (id, name, tags, domain)
ORGANIZATIONS = {
    "globex": (360100000001, "Globex", ("vip", "gold"), "globex.example"),
    "initech": (360100000002, "Initech", ("enterprise",), "initech.example"),
    "acme": (360100000003, "Acme Corp", (), "acme.example"),
    "umbrella": (360100000004, "Umbrella Health", ("smb",), "umbrella-health.example"),
    "hooli": (360100000005, "Hooli", (), "hooli.example"),
    "vandelay": (360100000006, "Vandelay Industries", ("smb",), "vandelay.example"),
}

# key: (id, name, email, role, default group)
STAFF = {
    "bot": (381000000001, "Escalations Bot", "escalations-bot@sandbox.test", "admin", None),
    "priya": (381000000002, "Priya Raman", "priya.raman@sandbox.test", "agent", "t1"),
    "tom": (381000000003, "Tom Becker", "tom.becker@sandbox.test", "agent", "t1"),
    "aiko": (381000000004, "Aiko Tanaka", "aiko.tanaka@sandbox.test", "agent", "t1"),
    "marcus": (381000000005, "Marcus Green", "marcus.green@sandbox.test", "agent", "t2"),
    "elena": (381000000006, "Elena Petrova", "elena.petrova@sandbox.test", "agent", "t3"),
    "jonas": (381000000007, "Jonas Weber", "jonas.weber@sandbox.test", "agent", "t4"),
    "dana": (381000000008, "Dana Whitfield", "dana.whitfield@sandbox.test", "admin", "t2"),
}

# key: (name, organization or None, tags); emails are derived from the name and organization.
CUSTOMERS = {
    "maria": ("Maria Lopez", "acme", ("annual_plan",)),
    "sofia": ("Sofia Rossi", "acme", ()),
    "nina": ("Nina Kowalski", "acme", ()),
    "grace": ("Grace Chen", "acme", ("beta",)),
    "mateo": ("Mateo Silva", "acme", ()),
    "leah": ("Leah Cohen", "acme", ()),
    "aaron": ("Aaron Brooks", "acme", ()),
    "ana": ("Ana Moreno", "globex", ("it_admin",)),
    "wei": ("Wei Zhang", "globex", ()),
    "priyanka": ("Priyanka Shah", "globex", ()),
    "mia": ("Mia Fischer", "globex", ()),
    "lena": ("Lena Novak", "globex", ("purchasing",)),
    "olivia": ("Olivia Grant", "initech", ()),
    "lucas": ("Lucas Martin", "initech", ()),
    "rahul": ("Rahul Mehta", "initech", ("it_admin",)),
    "victor": ("Victor Hale", "initech", ()),
    "kim": ("Kim Park", "initech", ()),
    "hannah": ("Hannah Okafor", "umbrella", ()),
    "fatima": ("Fatima Haddad", "umbrella", ()),
    "zoe": ("Zoe Adams", "umbrella", ()),
    "daniel": ("Daniel Byrne", "hooli", ()),
    "ryan": ("Ryan Walsh", "hooli", ()),
    "isla": ("Isla MacLeod", "hooli", ()),
    "pedro": ("Pedro Alves", "hooli", ()),
    "kate": ("Kate Morgan", "hooli", ("annual_plan",)),
    "kenji": ("Kenji Sato", "vandelay", ()),
    "tomc": ("Tom Carter", "vandelay", ()),
    "sam": ("Sam Patel", "vandelay", ()),
    "ella": ("Ella Svensson", "vandelay", ()),
    "liam": ("Liam O'Brien", None, ()),
    "emma": ("Emma Dubois", None, ()),
    "james": ("James Wright", None, ()),
    "chloe": ("Chloe Martin", None, ()),
    "george": ("George Evans", None, ()),
    "ben": ("Ben Harris", None, ("mobile",)),
    "dev": ("Dev Sharma", None, ()),
    "yuki": ("Yuki Ito", None, ()),
    "omar": ("Omar Farouk", None, ()),
    "hugo": ("Hugo Lambert", None, ()),
    "ivan": ("Ivan Petrov", None, ()),
    "noah": ("Noah Clarke", None, ()),
    "max": ("Max Weber", None, ()),
    "jade": ("Jade Thompson", None, ()),
    "paul": ("Paul Jensen", None, ()),
}

MANAGER, LEGAL, VIP = "manager-request", "legal-threat", "vip-high-priority"
REPEAT, URGENT, OUTAGE = "repeat-issue", "urgent-no-reply", "outage-surge"
BAD_CSAT, MONEY, APPROVAL = "bad-satisfaction", "financial-impact", "needs-approval"

SCENARIOS: tuple[Spec, ...] = (
    # ----- manager-request: the requester's latest public comment asks for a manager
    Spec(
        "Charged twice for the March invoice",
        "maria",
        "3h",
        (
            (
                "c",
                "Hi, I've been charged twice for invoice INV-20931 this month. This is the second "
                "time this has happened. I want to speak to your manager today.",
            ),
        ),
        status="new",
        tags=("billing",),
        rules=(MANAGER,),
    ),
    Spec(
        "Export keeps timing out on large reports",
        "daniel",
        "2d",
        (
            ("c", "Exporting the quarterly report times out after about 30 seconds, every time."),
            ("a", "Thanks Daniel, could you tell me roughly how many rows the report has?"),
            (
                "c",
                "Around 80k rows. I've sent three emails about this already. Please put me through "
                "to a supervisor.",
            ),
        ),
        tags=("reports",),
        rules=(MANAGER,),
    ),
    Spec(
        "Still waiting on the data migration",
        "olivia",
        "5d",
        (
            ("c", "Our migration was promised for last Friday and we have heard nothing since."),
            (
                "a",
                "Sorry for the silence, Olivia. The migration job is queued behind two others; "
                "I'll update you as soon as it starts.",
            ),
            (
                "c",
                "That isn't good enough. Is there someone in charge of migrations I can talk to?",
            ),
        ),
        status="hold",
        tags=("migration",),
        rules=(MANAGER,),
    ),
    Spec(
        "API tokens revoked without warning",
        "kenji",
        "1d",
        (
            (
                "c",
                "All of our API tokens stopped working overnight and our integrations are failing.",
            ),
            (
                "a",
                "I've passed this to our platform specialists, they are looking at the audit logs "
                "now.",
            ),
            ("c", "We need a manager to explain how this happened."),
        ),
        group="t3",
        priority="high",
        tags=("api",),
        rules=(MANAGER,),
    ),
    # decoys: an agent mentions a manager; an old request later resolved; a solved ticket
    Spec(
        "Refund for unused seats",
        "sofia",
        "4d",
        (
            (
                "c",
                "We reduced our team from 12 to 8 people in January. Can we get a refund for the "
                "unused seats?",
            ),
            (
                "a",
                "Good news: my manager approved the refund for the four seats. You will see it on "
                "your card within 5 to 7 working days.",
            ),
        ),
        status="pending",
        refund=240,
        tags=("billing", "refund"),
    ),
    Spec(
        "Two-factor codes not arriving",
        "liam",
        "6d",
        (
            (
                "c",
                "My two-factor codes stopped arriving by SMS. Can I speak to a supervisor? Nobody "
                "has replied in two days.",
            ),
            (
                "a",
                "Apologies for the delay, Liam. I've reset your 2FA method; you should be able to "
                "enrol the authenticator app now.",
            ),
            ("c", "That worked, thanks, all sorted."),
        ),
        tags=("2fa",),
    ),
    Spec(
        "Please close my account",
        "emma",
        "12d",
        (
            ("c", "I want to close my account and I want to speak to a manager about the fees."),
            (
                "a",
                "I've closed the account and refunded last month's fee. Sorry for the trouble, "
                "Emma.",
            ),
        ),
        status="solved",
        tags=("cancellation",),
    ),
    # ----- legal-threat: any customer comment mentions legal steps
    Spec(
        "Cancelled subscription still being billed",
        "james",
        "3d",
        (
            ("c", "I cancelled in February but you charged me again in March and April."),
            (
                "a",
                "Thanks James, I can see the cancellation request. I've asked billing to look "
                "into it.",
            ),
            ("c", "If this isn't refunded by Friday I'm handing it to my lawyer."),
            ("c", "Also, please send me a copy of the cancellation confirmation."),
        ),
        tags=("billing",),
        rules=(LEGAL,),
    ),
    Spec(
        "Unauthorised charge on my card",
        "chloe",
        "7h",
        (
            (
                "c",
                "There is a charge of $89.00 on my card that I never authorised. If it's not "
                "reversed this week I will open a chargeback with my bank.",
            ),
        ),
        status="new",
        tags=("billing",),
        rules=(LEGAL,),
    ),
    Spec(
        "Direct debit taken after cancellation",
        "george",
        "9d",
        (
            ("c", "You took a direct debit two weeks after I cancelled my plan."),
            ("a", "I'm sorry about that, George. I've asked our billing team to refund it."),
            ("c", "Still no refund. I'm taking this to the Financial Ombudsman."),
        ),
        status="pending",
        tags=("billing",),
        rules=(LEGAL,),
    ),
    Spec(
        "Data deleted after plan change",
        "ryan",
        "1d",
        (
            ("c", "After switching plans, two years of project history disappeared."),
            (
                "a",
                "I'm very sorry, Ryan. I've asked engineering whether the data can be restored "
                "from backups.",
            ),
            ("c", "Get me a supervisor today or my attorney will be in touch."),
        ),
        type="problem",
        tags=("data_loss",),
        rules=(MANAGER, LEGAL),
    ),
    # decoys: a person called Sue; a legal team on holiday; an agent note about a chargeback
    Spec(
        "Access for our accounts team",
        "priyanka",
        "2d",
        (
            (
                "c",
                "Sue from our accounts team asked me to get her read-only access to invoices. Can "
                "you add sue.palmer@globex.example?",
            ),
            ("a", "Done! Sue should receive an invite shortly."),
        ),
        status="pending",
        tags=("access",),
    ),
    Spec(
        "Contract renewal paperwork",
        "lucas",
        "8d",
        (
            (
                "c",
                "Our legal team is on holiday until the 20th, so the signed renewal will be a "
                "little late. Is that OK?",
            ),
            ("a", "No problem at all, Lucas. I've noted it on the account."),
            (
                "n",
                "Customer disputed an old invoice with a chargeback last year; nothing to do now.",
            ),
        ),
        status="pending",
        tags=("renewal",),
    ),
    # ----- vip-high-priority: high or urgent at a vip/enterprise organization
    Spec(
        "SSO login loop for all Globex staff",
        "ana",
        "2d",
        (
            (
                "c",
                "Since this morning everyone at Globex is stuck in a redirect loop when signing in "
                "through Okta.",
            ),
            ("a", "Thanks Ana, we're reproducing it now with your IdP metadata."),
        ),
        priority="urgent",  # Globex is a gold customer: the demo shows its gold deadlines
        type="incident",
        tags=("sso",),
        rules=(VIP,),
    ),
    Spec(
        "Webhook deliveries delayed by hours",
        "rahul",
        "20h",
        (
            (
                "c",
                "Our webhook deliveries are arriving 2-3 hours late, which breaks our order "
                "pipeline.",
            ),
            (
                "a",
                "We're seeing a backlog on one of the delivery queues; I've raised it with the "
                "on-call engineer.",
            ),
        ),
        priority="urgent",
        type="incident",
        tags=("webhooks",),
        rules=(VIP,),
    ),
    # decoys: a vip customer at normal priority; urgent at a plain organization, answered
    Spec(
        "Add a cost centre to invoices",
        "wei",
        "3d",
        (
            ("c", "Could our invoices show our cost centre code (GX-4410)?"),
            ("a", "Yes: it's under Billing > Invoice details. I've added it for you this time."),
        ),
        status="pending",
        tags=("billing",),
    ),
    Spec(
        "Payment page shows an error",
        "nina",
        "3h",
        (
            ("c", "Customers get 'Something went wrong' on our hosted payment page."),
            ("a", "Looking into this right now. Can you share a payment link that fails?"),
        ),
        priority="urgent",
        type="incident",
        tags=("payments",),
    ),
    # ----- repeat-issue: reopened twice, or a requester with three tickets in 30 days
    Spec(
        "Calendar sync stops every few days",
        "tomc",
        "14d",
        (
            ("c", "Our Google Calendar sync stopped again."),
            ("a", "We've reconnected the integration; it should be working now."),
            ("c", "It stopped again this morning."),
            ("a", "We've applied a fix to your account, please let us know if it happens again."),
            ("c", "It's stopped for the third time. We rely on this for bookings."),
        ),
        reopens=2,
        type="problem",
        tags=("calendar",),
        rules=(REPEAT,),
    ),
    Spec(
        "Lab results upload fails for PDF files",
        "hannah",
        "20d",
        (
            ("c", "Uploading lab results as PDF fails with 'unsupported file'. JPGs work."),
            ("a", "Could you send one of the files that fails so we can test it?"),
        ),
        status="pending",
        tags=("uploads",),
        rules=(REPEAT,),
    ),
    Spec(
        "Appointment reminders sent twice",
        "hannah",
        "10d",
        (
            ("c", "Patients are getting every appointment reminder twice."),
            (
                "a",
                "Thanks Hannah, I can see duplicate jobs in your reminder schedule; checking why.",
            ),
        ),
        tags=("reminders",),
        rules=(REPEAT,),
    ),
    Spec(
        "Patient portal shows the wrong time zone",
        "hannah",
        "2d",
        (("c", "The patient portal shows appointment times in UTC instead of our local time."),),
        status="new",
        tags=("portal",),
        rules=(REPEAT,),
    ),
    # decoys: reopened once; two recent tickets plus an old closed one
    Spec(
        "Mobile app crashes when attaching photos",
        "ben",
        "11d",
        (
            ("c", "The Android app crashes whenever I attach a photo to a job."),
            ("a", "Version 4.2.1 fixes this, could you update and try again?"),
            ("c", "Updated, but it crashed again today with a large photo."),
        ),
        reopens=1,
        type="problem",
        tags=("mobile",),
    ),
    Spec(
        "CSV import skips rows",
        "grace",
        "18d",
        (
            ("c", "Importing contacts from CSV silently skips rows that contain accented names."),
            (
                "a",
                "Thanks Grace, saving the file as UTF-8 should fix it; I've filed a bug as well.",
            ),
        ),
        tags=("import",),
    ),
    Spec(
        "Bulk edit of contacts",
        "grace",
        "6d",
        (
            ("c", "Is there a way to change the owner of 300 contacts at once?"),
            ("a", "Yes, select them in the list view and use Actions > Change owner."),
        ),
        status="pending",
        tags=("contacts",),
    ),
    Spec(
        "Question about data retention",
        "grace",
        "60d",
        (
            ("c", "How long do you keep deleted contacts before they are purged?"),
            ("a", "Deleted contacts are kept for 30 days, then purged."),
        ),
        status="closed",
        tags=("privacy",),
    ),
    # ----- urgent-no-reply: urgent, no public agent reply, older than 4h
    Spec(
        "Checkout broken for EU customers",
        "mateo",
        "5h",
        (
            (
                "c",
                "Since the last release, EU customers can't complete checkout: the VAT step spins "
                "forever.",
            ),
        ),
        status="new",
        priority="urgent",
        type="incident",
        tags=("checkout",),
        rules=(URGENT,),
    ),
    Spec(
        "Invoices generated with the wrong VAT rate",
        "fatima",
        "9h",
        (
            ("c", "All invoices generated today use 19% VAT instead of 20%."),
            ("n", "EU rate table was not updated in the last deploy; asked billing engineering."),
        ),
        priority="urgent",
        type="problem",
        tags=("billing",),
        rules=(URGENT,),
    ),
    # decoys: urgent but only 2h old; urgent and answered
    Spec(
        "Scheduled reports stopped sending",
        "dev",
        "2h",
        (("c", "None of our scheduled reports went out this morning."),),
        status="new",
        priority="urgent",
        tags=("reports",),
    ),
    Spec(
        "Password reset emails going to spam",
        "isla",
        "6h",
        (
            ("c", "Our users' password reset emails are all landing in spam."),
            ("a", "Thanks Isla, our DKIM record for your domain had expired; I've renewed it."),
        ),
        priority="urgent",
        tags=("email",),
    ),
    # ----- outage-surge: six outage reports within 45 minutes
    Spec(
        "Dashboard down for our whole team",
        "pedro",
        "65m",
        (("c", "The dashboard shows a blank page for everyone on our team."),),
        status="new",
        type="incident",
        rules=(OUTAGE,),
    ),
    Spec(
        "Cannot log in since this morning",
        "yuki",
        "58m",
        (("c", "I get 'session expired' every time I try to sign in."),),
        status="new",
        type="incident",
        rules=(OUTAGE,),
    ),
    Spec(
        "Reports page not loading",
        "sam",
        "50m",
        (("c", "The reports page just spins."),),
        status="new",
        priority=None,
        rules=(OUTAGE,),
    ),
    Spec(
        "Is there an outage? Everything is timing out",
        "leah",
        "41m",
        (("c", "Every page takes a minute and then times out."),),
        status="new",
        type="incident",
        rules=(OUTAGE,),
    ),
    Spec(
        "Can't log in to the admin console",
        "omar",
        "33m",
        (("c", "The admin console rejects my password, which worked yesterday."),),
        status="new",
        priority="high",
        rules=(OUTAGE,),
    ),
    Spec(
        "App down again?",
        "zoe",
        "22m",
        (("c", "Nothing loads for our clinic staff right now."),),
        status="new",
        type="incident",
        rules=(OUTAGE,),
    ),
    # decoys: the same kind of subject, days apart
    Spec(
        "Site down for a few minutes last night",
        "hugo",
        "9d",
        (
            ("c", "Our booking site was unreachable for about ten minutes around 23:00."),
            ("a", "There was a short network incident at that time; it's been resolved."),
        ),
    ),
    Spec(
        "Cannot log in after changing my email",
        "mia",
        "5d",
        (
            ("c", "I changed my email address and now my login is rejected."),
            ("a", "I've updated your login to the new address, please try again."),
        ),
        status="pending",
    ),
    Spec(
        "Calendar view not loading in Safari",
        "ivan",
        "2d",
        (
            ("c", "The calendar view stays blank in Safari 17; Chrome works."),
            ("a", "Thanks Ivan, we can reproduce it and have logged a bug."),
        ),
        type="problem",
    ),
    # ----- bad-satisfaction: a bad rating on a ticket that is not closed
    Spec(
        "Invoice address change",
        "noah",
        "6d",
        (
            ("c", "Please change the billing address on our invoices to 12 Harbour Street."),
            ("a", "Done, the next invoice will show the new address."),
        ),
        status="solved",
        rating=("bad", "Took a week to change an address."),
        rules=(BAD_CSAT,),
    ),
    Spec(
        "Slow responses from support",
        "ella",
        "4d",
        (
            ("c", "It takes days to get an answer to simple questions."),
            ("a", "Sorry Ella, we were short-staffed last week. What can I help with?"),
        ),
        status="pending",
        rating=("bad", "Still waiting for real answers."),
        rules=(BAD_CSAT,),
    ),
    # decoys: a good rating; a bad rating on a closed ticket
    Spec(
        "How to add a team member",
        "isla",
        "8d",
        (
            ("c", "How do I invite a new colleague to our workspace?"),
            ("a", "Go to Settings > Team > Invite and enter their email address."),
        ),
        status="solved",
        rating=("good", "Quick and clear, thanks!"),
    ),
    Spec(
        "Feature request: dark mode",
        "noah",
        "25d",
        (
            ("c", "Any plans for a dark mode?"),
            ("a", "It's on our roadmap but not scheduled yet."),
        ),
        status="closed",
        rating=("bad", "No real answer."),
    ),
    # ----- financial-impact: refund amount of 500 or more
    Spec(
        "Refund for annual plan billed in error",
        "aaron",
        "2d",
        (
            ("c", "We were billed for an annual plan although we chose monthly. Please refund it."),
            ("a", "I've asked billing to process the refund."),
        ),
        refund=750,
        tags=("billing", "refund"),
        rules=(MONEY,),
    ),
    Spec(
        "Duplicate charges on our enterprise invoice",
        "kate",
        "3d",
        (
            ("c", "Our May invoice charges the platform fee twice."),
            ("a", "Confirmed, I've raised a refund request for the duplicate fee."),
        ),
        status="pending",
        refund=1200.5,
        tags=("billing", "refund"),
        rules=(MONEY,),
    ),
    Spec(
        "Compensation for missed SLA",
        "victor",
        "6d",
        (
            (
                "c",
                "Last month's availability was below the 99.9% in our contract. We'd like the "
                "service credit.",
            ),
            ("a", "Our specialists are calculating the credit now."),
        ),
        group="t3",
        refund=900,
        tags=("sla", "refund"),
        rules=(MONEY,),
    ),
    # decoys: a small refund; a large one on a solved ticket
    Spec(
        "Partial refund for February",
        "jade",
        "4d",
        (
            ("c", "We only used the product for half of February, can we get part of it back?"),
            ("a", "I've requested a partial refund of $120."),
        ),
        refund=120,
        tags=("billing", "refund"),
    ),
    Spec(
        "Refund for cancelled workshop",
        "paul",
        "7d",
        (
            ("c", "Our onboarding workshop was cancelled, please refund the fee."),
            ("a", "Refunded in full, sorry it didn't work out."),
        ),
        status="solved",
        refund=980,
        tags=("billing", "refund"),
    ),
    # ----- needs-approval: tagged needs_approval
    Spec(
        "Discount request for 40 extra seats",
        "lena",
        "3d",
        (
            ("c", "We'd like to add 40 seats. Is a volume discount possible?"),
            ("a", "I'll ask for a discount approval and get back to you."),
        ),
        tags=("needs_approval", "discount"),
        rules=(APPROVAL,),
    ),
    Spec(
        "Request to extend our trial by 30 days",
        "max",
        "1d",
        (("c", "Could we extend the trial? Our procurement process takes a few more weeks."),),
        status="hold",
        tags=("needs_approval", "trial"),
        rules=(APPROVAL,),
    ),
    # decoy: already approved
    Spec(
        "Custom contract terms",
        "kim",
        "5d",
        (
            ("c", "Can we use our own terms for the renewal?"),
            ("a", "Legal has approved your redlines; the contract is on its way."),
        ),
        status="pending",
        tags=("approved", "contract"),
    ),
)

# Ordinary tickets no default rule should touch; also the patterns repeated for tickets=N.
PLAIN: tuple[Spec, ...] = (
    Spec(
        "How do I export contacts to CSV?",
        "sofia",
        "15d",
        (
            ("c", "Where is the export button for contacts?"),
            ("a", "Contacts > Actions > Export CSV. It emails you the file."),
        ),
        status="solved",
        rating=("offered", ""),
    ),
    Spec(
        "Change the billing email",
        "maria",
        "45d",
        (
            ("c", "Please send invoices to accounts@acme.example from now on."),
            ("a", "Updated."),
        ),
        status="closed",
        priority="low",
    ),
    Spec(
        "Question about API rate limits",
        "daniel",
        "22d",
        (
            ("c", "How many API calls per minute does the Pro plan allow?"),
            ("a", "400 per minute; the headers of every response show what is left."),
        ),
        status="solved",
        tags=("api",),
        rating=("offered", ""),
    ),
    Spec(
        "Add our logo to notification emails",
        "wei",
        "5d",
        (
            ("c", "Can notification emails use our logo?"),
            ("a", "Yes, upload it under Settings > Branding and tick 'use in emails'."),
        ),
        status="pending",
        priority="low",
    ),
    Spec(
        "Where can I find last year's invoices?",
        "hannah",
        "70d",
        (
            ("c", "I need all of last year's invoices for our auditors."),
            ("a", "Billing > History lets you download them as one ZIP."),
        ),
        status="closed",
    ),
    Spec(
        "Feature request: keyboard shortcuts",
        "ben",
        "12d",
        (
            ("c", "It would be great to have keyboard shortcuts for the inbox."),
            ("a", "Thanks Ben, I've added your vote to the feature request."),
        ),
        priority="low",
        type=None,
    ),
    Spec(
        "Set up SAML for a second domain",
        "lucas",
        "7d",
        (
            ("c", "We acquired a company and need SAML for initrode.example too."),
            ("a", "You can add a second identity provider under Security > SSO. Want a call?"),
            ("c", "Yes please, Thursday afternoon works."),
        ),
        tags=("sso",),
    ),
    Spec(
        "Time zone of scheduled emails",
        "grace",
        "40d",
        (
            ("c", "Which time zone do scheduled emails use?"),
            ("a", "The sender's profile time zone."),
        ),
        status="solved",
    ),
    Spec(
        "Archive old projects",
        "olivia",
        "80d",
        (
            ("c", "Can we archive projects instead of deleting them?"),
            ("a", "Yes: Project > Settings > Archive."),
        ),
        status="closed",
        priority="low",
    ),
    Spec(
        "Translate the help widget to German",
        "zoe",
        "16d",
        (
            ("c", "Can the help widget be shown in German for our Berlin clinic?"),
            ("a", "German is supported; set the widget locale to de. Sending the snippet now."),
        ),
        status="pending",
        priority="low",
    ),
    Spec(
        "Invite link expired",
        "james",
        "3d",
        (
            ("c", "The invite link you sent me has expired."),
            ("a", "I've sent a fresh invite, it's valid for 7 days."),
        ),
        status="solved",
    ),
    Spec(
        "Custom domain SSL certificate",
        "kate",
        "9d",
        (
            ("c", "Our custom domain shows a certificate warning."),
            ("a", "The certificate is being reissued; it takes up to 24 hours."),
        ),
        tags=("domains",),
    ),
    Spec(
        "Bulk delete test data",
        "tomc",
        "50d",
        (
            ("c", "How do we delete all records created by our test import?"),
            ("a", "Filter by the import tag and use bulk delete."),
        ),
        status="closed",
    ),
    Spec(
        "Question about the new pricing",
        "emma",
        "1d",
        (("c", "Will the new pricing apply to existing customers?"),),
        status="new",
        priority="low",
    ),
)

# Names for the extra requesters of tickets beyond the base scenarios.
EXTRA_FIRST = ("Alex", "Jordan", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Robin", "Quinn")
EXTRA_LAST = ("Reed", "Foster", "Hayes", "Bennett", "Lowe", "Porter", "Ward", "Sutton", "Doyle")
