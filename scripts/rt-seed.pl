# RT initialdata for esc-sync's live integration suite (Request Tracker 5).
#
# Loaded by scripts/rt-up with
#     rt-setup-database-5 --action insert --skip-create --datafile scripts/rt-seed.pl
# after `--action init`. The names below are a contract with the RT connector profile
# (tests/rt/ writes one): queues per tier, the ticket custom fields behind [fields], the
# "Customer Tags" user field behind organization.tags, and the bot user the worker acts as.
#
# @Final disables the scrips that send mail (each one renders templates and runs w3m) and
# creates the bot's REST 2 auth token; the token is written to $ENV{ESC_SYNC_RT_TOKEN_FILE}.

my %pass = (
    'escalation-bot' => 'bot-password-1',
    agent1 => 'agent1-password',
    agent2 => 'agent2-password',
    agent3 => 'agent3-password',
    agent4 => 'agent4-password',
);

@Users = (
    { Name => 'escalation-bot', RealName => 'Escalation Bot', EmailAddress => 'escalation-bot@rt.test',
      Password => $pass{'escalation-bot'}, Privileged => 1 },
    map {
        { Name => "agent$_", RealName => "Agent $_ (t$_)", EmailAddress => "agent$_\@rt.test",
          Password => $pass{"agent$_"}, Privileged => 1 }
    } 1 .. 4,
);

@Queues = map {
    { Name => "Support T$_", Description => "Support tier t$_",
      CorrespondAddress => '', CommentAddress => '' }
} 1 .. 4;

my %ticket_cf = ( LookupType => 'RT::Queue-RT::Ticket', ApplyTo => 0 );    # 0 = every queue
@CustomFields = (
    { %ticket_cf, Name => 'Tags',              Type => 'FreeformMultiple', Description => 'Ticket tags' },
    { %ticket_cf, Name => 'Escalation Status', Type => 'FreeformSingle',   Description => 'Written by esc-sync' },
    { %ticket_cf, Name => 'Respond By',        Type => 'DateTime', MaxValues => 1, Description => 'Response deadline' },
    { %ticket_cf, Name => 'Resolve By',        Type => 'DateTime', MaxValues => 1, Description => 'Resolution deadline' },
    { %ticket_cf, Name => 'Refund Amount',     Type => 'FreeformSingle',   Description => 'Refund asked for (a number)' },
    { %ticket_cf, Name => 'Satisfaction',      Type => 'SelectSingle',     Description => 'Customer rating',
      Values => [ { Name => 'good', SortOrder => 1 }, { Name => 'bad', SortOrder => 2 } ] },
    { %ticket_cf, Name => 'Task Id',           Type => 'FreeformSingle',   Description => "A follow-up task's external id" },
    { LookupType => 'RT::User', ApplyTo => 0, Name => 'Customer Tags', Type => 'FreeformMultiple',
      Description => "Tags of the customer's organization (vip, enterprise, ...)" },
);

@ACL = (
    # Every privileged user works tickets in every queue.
    { GroupDomain => 'SystemInternal', GroupType => 'Privileged',
      Right => [qw(SeeQueue ShowTicket CreateTicket ModifyTicket OwnTicket TakeTicket StealTicket
                   CommentOnTicket ReplyToTicket ShowTicketComments Watch WatchAsAdminCc
                   SeeCustomField ModifyCustomField SetInitialCustomField ShowOutgoingEmail)] },
    # The bot reads requesters in full (Organization, Customer Tags) and owns its token.
    { UserId => 'escalation-bot', Right => [qw(AdminUsers ShowUserHistory ManageAuthTokens)] },
);

@Final = (
    sub {
        my $scrips = RT::Scrips->new( RT->SystemUser );
        $scrips->UnLimit;
        while ( my $scrip = $scrips->Next ) {
            next unless $scrip->ScripActionObj->ExecModule
                =~ /^(?:Notify|NotifyAsComment|NotifyGroup|NotifyGroupAsComment|Autoreply|SendForward)$/;
            my ( $ok, $msg ) = $scrip->SetDisabled(1);
            die "disabling scrip " . $scrip->id . ": $msg\n" unless $ok;
        }
    },
    sub {
        my $file = $ENV{ESC_SYNC_RT_TOKEN_FILE} or return;
        my $bot = RT::CurrentUser->new;
        $bot->Load('escalation-bot');
        die "escalation-bot not found\n" unless $bot->id;
        my ( $id, $msg, $auth ) = RT::AuthToken->new($bot)->Create(
            Owner => $bot->id, Description => 'esc-sync integration suite' );
        die "token: $msg\n" unless $id;
        open my $fh, '>', $file or die "$file: $!\n";
        print {$fh} "$auth\n";
        close $fh or die "$file: $!\n";
    },
);

1;
