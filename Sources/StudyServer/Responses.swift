import Hummingbird
import StudyAPI
import StudyCore

// The wire types (StudyAPI) that handlers return, as Hummingbird responses: JSON through the request context's encoder.
// Not retroactive: the types and this module are of one package.
extension UserView: ResponseEncodable {}
extension LoginResponse: ResponseEncodable {}
extension DeviceList: ResponseEncodable {}
extension MetaResponse: ResponseEncodable {}
extension ProgressList: ResponseEncodable {}
extension TeamView: ResponseEncodable {}
extension TeamList: ResponseEncodable {}
extension MemberList: ResponseEncodable {}
extension InviteView: ResponseEncodable {}
extension PublishedView: ResponseEncodable {}
extension DeckList: ResponseEncodable {}
extension DeckView: ResponseEncodable {}
extension BoardView: ResponseEncodable {}
extension LearnerReportView: ResponseEncodable {}
extension QuestionReportView: ResponseEncodable {}
extension LearnerDetailView: ResponseEncodable {}
extension RoleView: ResponseEncodable {}
extension VisibilityBody: ResponseEncodable {}

extension TeamView {
    init(_ team: TeamRecord, role: TeamRole?) {
        self.init(id: team.id, name: team.name, timeZone: team.timeZone, weekStart: team.weekStart, createdAt: team.createdAt, role: role?.rawValue)
    }
}
extension UserAdminList: ResponseEncodable {}
extension RegistrationInviteView: ResponseEncodable {}
